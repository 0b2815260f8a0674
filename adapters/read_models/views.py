"""The daily-counts read model (events per day and per hour) on SQLite and PostgreSQL, and blue/green rebuilds.

``ShadowView`` rebuilds any tracked view (adapters.read_models.tracked) beside
the live one and swaps it in.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

import msgspec
import psycopg
from eventsourcing.persistence import PersistenceError
from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL, Identifier

from adapters.database_url import Database
from adapters.eventstore.persistence import event_store_env
from adapters.local_files import private_file
from adapters.read_models.page_rows import write_page
from adapters.read_models.tracked import UPSTREAM, PostgresTrackedView, SqliteTrackedView, build_view, factory_for
from application.read_models.ports import DailyCountsView, Shadow

__all__ = ["PostgresDailyCounts", "ShadowView", "SqliteDailyCounts", "build_daily_counts"]

DailyCounts = dict[tuple[date, str], int]
# A promotion that waited 500 ms for readers' locks, or deadlocked with one, is tried again this many times
# (ShadowView._promote_postgres): readers queue behind its lock request for at most 500 ms at a time.
_SWAP_ATTEMPTS: Final = 20
_LOCK_CONFLICTS: Final = (psycopg.errors.DeadlockDetected, psycopg.errors.LockNotAvailable)
DayCounts = Mapping[tuple[date, str], int]
HourCounts = Mapping[tuple[datetime, str], int]


class _CountsWrites:
    """A page's counts and its position in one transaction, alike on both databases: each says its statements.

    Rows go in key order (on PostgreSQL the merge sorts them), so two writers lock them in the same order.
    """

    _add_day: Any  # upsert of (day, event name, n), adding n
    _floor_day: Any  # the same, raising the stored n to at least n
    _add_hour: Any  # upsert of (hour, name, n), adding n

    if TYPE_CHECKING:  # given by the tracked-view base each view also has

        def _tracked_write(self, position: int) -> AbstractContextManager[Any]: ...

    def _stored(self, value: date | datetime) -> Any:
        """A day or an hour as the database stores it."""
        return value

    def add(
        self,
        counts: DayCounts,
        position: int,
        hourly: HourCounts | None = None,
        later: Sequence[tuple[DayCounts, DayCounts]] = (),
    ) -> None:
        steps = [(self._add_day, counts)]
        steps += [step for floors, after in later for step in ((self._floor_day, floors), (self._add_day, after))]
        with self._tracked_write(position) as c:
            for statement, rows in steps:
                if rows:
                    self._write(c, statement, [(self._stored(day), name, n) for (day, name), n in sorted(rows.items())])
            if hourly:
                self._write(
                    c, self._add_hour, [(self._stored(hour), name, n) for (hour, name), n in sorted(hourly.items())]
                )

    def _write(self, cursor: Any, statement: Any, rows: list[tuple[Any, str, int]]) -> None:
        cursor.executemany(statement, rows)


class SqliteDailyCounts(SqliteTrackedView, _CountsWrites, DailyCountsView):
    """Days and hours as ISO text (all UTC), which sorts as time does."""

    VIEW_NAME = "daily_counts"
    SQLITE_FILE = "views"
    PROJECTION_TABLES = ("daily_event_counts", "hourly_event_counts")
    _add_day = (
        "INSERT INTO daily_event_counts VALUES (?,?,?) ON CONFLICT (day, event_name) DO UPDATE SET n = n + excluded.n"
    )
    _floor_day = (
        "INSERT INTO daily_event_counts VALUES (?,?,?)"
        " ON CONFLICT (day, event_name) DO UPDATE SET n = max(n, excluded.n)"
    )
    _add_hour = (
        "INSERT INTO hourly_event_counts VALUES (?,?,?) ON CONFLICT (hour, name) DO UPDATE SET n = n + excluded.n"
    )

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS daily_event_counts ("
            " day TEXT NOT NULL, event_name TEXT NOT NULL, n INTEGER NOT NULL,"
            " PRIMARY KEY (day, event_name)) WITHOUT ROWID",
            "CREATE TABLE IF NOT EXISTS hourly_event_counts ("
            " hour TEXT NOT NULL, name TEXT NOT NULL, n INTEGER NOT NULL,"
            " PRIMARY KEY (hour, name)) WITHOUT ROWID",
        ]

    def _stored(self, value: date | datetime) -> str:
        return _hour_text(value) if isinstance(value, datetime) else value.isoformat()

    def hourly(self, first: datetime, last: datetime) -> dict[tuple[datetime, str], int]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT hour, name, n FROM hourly_event_counts WHERE hour >= ? AND hour <= ?",
                (_hour_text(first), _hour_text(last)),
            )
            return {(datetime.fromisoformat(r[0]), r[1]): r[2] for r in c.fetchall()}

    def counts(self) -> DailyCounts:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT day, event_name, n FROM daily_event_counts")
            return {(date.fromisoformat(r[0]), r[1]): r[2] for r in c.fetchall()}


_DAY_ROW: Final = ("date", "text", "bigint")
_HOUR_ROW: Final = ("timestamptz", "text", "bigint")


class PostgresDailyCounts(PostgresTrackedView, _CountsWrites, DailyCountsView):
    VIEW_NAME = "daily_counts"
    PROJECTION_TABLES = ("daily_event_counts", "hourly_event_counts")

    def __init__(self, datastore: PostgresDatastore, *, tracking_table_name: str, **kwargs: Any) -> None:
        super().__init__(datastore, tracking_table_name=tracking_table_name, **kwargs)
        self._table = self._in_schema("daily_event_counts")
        self._hourly = self._in_schema("hourly_event_counts")
        # A page's rows in one merge (adapters.read_models.page_rows; their keys are distinct: an upsert may not
        # update a row twice).
        upsert = "INSERT INTO {} AS t VALUES (%s, %s, %s) ON CONFLICT ({}) DO UPDATE SET n = {}"
        table, hourly = self._table.as_string(None), self._hourly.as_string(None)
        self._add_day = upsert.format(table, "day, event_name", "t.n + excluded.n"), _DAY_ROW
        self._floor_day = upsert.format(table, "day, event_name", "GREATEST(t.n, excluded.n)"), _DAY_ROW
        self._add_hour = upsert.format(hourly, "hour, name", "t.n + excluded.n"), _HOUR_ROW
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (day date NOT NULL, event_name text NOT NULL,"
                " n bigint NOT NULL, PRIMARY KEY (day, event_name))"
            ).format(self._table)
        )
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (hour timestamptz NOT NULL, name text NOT NULL,"
                " n bigint NOT NULL, PRIMARY KEY (hour, name))"
            ).format(self._hourly)
        )

    def _write(self, cursor: Any, statement: Any, rows: list[tuple[Any, str, int]]) -> None:
        sql, types = statement
        write_page(cursor, sql, rows, types)

    def hourly(self, first: datetime, last: datetime) -> dict[tuple[datetime, str], int]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                SQL("SELECT hour, name, n FROM {} WHERE hour >= %s AND hour <= %s").format(self._hourly),
                (first, last),
            )
            return {(r["hour"].astimezone(UTC), r["name"]): r["n"] for r in curs.fetchall()}

    def counts(self) -> DailyCounts:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT day, event_name, n FROM {}").format(self._table))
            return {(r["day"], r["event_name"]): r["n"] for r in curs.fetchall()}


def _hour_text(at: datetime) -> str:
    """Sortable text of an hour's start in UTC, as SQLite stores it: 2026-11-25T13:00:00+00:00."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0).isoformat()


def build_daily_counts(db: Database) -> SqliteDailyCounts | PostgresDailyCounts:
    """The view on its own connection: a sibling file on SQLite, prefixed tables on PostgreSQL."""
    return build_view(db, "daily_counts", "views", SqliteDailyCounts, PostgresDailyCounts)


class ShadowView(Shadow):
    """A view built beside a live one, from nothing, then swapped in: blue/green rebuilds.

    The shadow has the live view's class and tables, in a schema of its own on
    PostgreSQL (``<schema>_rebuild_<view>``) or a file of its own on SQLite
    (``addvalue.<file>.rebuild.db``). ``promote`` replaces the live view's rows
    and position by the shadow's in one transaction, so readers see the old
    read model until the commit and the new one after, never a partial one.
    Rows the live view gained meanwhile are not lost: the live position moves
    back to the shadow's, and the next catch-up applies them again.
    """

    def __init__(self, db: Database, live: SqliteTrackedView | PostgresTrackedView) -> None:
        self._db = db
        self._live = live
        self._tables = live.PROJECTION_TABLES
        self._name = live.VIEW_NAME
        if db.kind == "sqlite":
            self._path = db.sibling(f"{cast(SqliteTrackedView, live).SQLITE_FILE}.rebuild")
            for leftover in (self._path, Path(f"{self._path}-wal"), Path(f"{self._path}-shm")):
                leftover.unlink(missing_ok=True)
            env = event_store_env(db)
            env.pop("APPLICATION_RECORDER_TOPIC")
            env["SQLITE_DBNAME"] = str(private_file(self._path))
        else:
            self._schema = f"{db.schema}_rebuild_{self._name}"  # one per view: several may rebuild at once
            self._retired = f"{db.schema}_retired_{self._name}"  # the live tables a promotion replaced
            with psycopg.connect(db.url, autocommit=True) as conn:
                conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(self._schema)))
                conn.execute(SQL("CREATE SCHEMA {}").format(Identifier(self._schema)))
            env = event_store_env(msgspec.structs.replace(db, schema=self._schema))
            env.pop("APPLICATION_RECORDER_TOPIC")
            env["POSTGRES_POOL_SIZE"] = "1"
        self.view: Any = factory_for(env, self._name).tracking_recorder(type(live))

    def promote(self) -> None:
        if self._db.kind == "sqlite":
            self._promote_sqlite()
        else:
            self._promote_postgres()

    def _promote_sqlite(self) -> None:
        live = cast(SqliteTrackedView, self._live)
        with live.datastore.get_connection(commit=True) as conn:
            conn.cursor().execute("ATTACH DATABASE ? AS shadow", (str(self._path),))
            try:
                with conn.transaction(commit=True) as c:
                    for table in self._tables:
                        c.execute(f"DELETE FROM main.{table}")
                        c.execute(f"INSERT INTO main.{table} SELECT * FROM shadow.{table}")
                    c.execute("DELETE FROM main.tracking WHERE application_name = ?", (UPSTREAM,))
                    c.execute(
                        "INSERT INTO main.tracking SELECT * FROM shadow.tracking WHERE application_name = ?",
                        (UPSTREAM,),
                    )
            finally:
                conn.cursor().execute("DETACH DATABASE shadow")

    def _promote_postgres(self) -> None:
        """The shadow's tables take the live ones' places by a change of schema, not a copy of their rows.

        Copying was 11% of a one-pass rebuild (0.7-0.8 s of 6.9 s for 103,343
        stored events, bench/rebuild.py), and grows with the read model; a
        change of schema is a catalog update. It takes the live tables'
        ACCESS EXCLUSIVE lock, so readers wait for the commit (milliseconds)
        instead of reading the old rows meanwhile. The swap waits at most 500 ms
        for a reader's lock, and a reader that takes two of the tables in the
        other order may deadlock with it; either way the swap is cancelled and
        tried again, so a reader is never held long nor made to fail.
        """
        for attempt in range(_SWAP_ATTEMPTS):
            try:
                self._swap_postgres()
                return
            except (psycopg.Error, PersistenceError) as e:  # the library's datastore wraps psycopg's errors
                if attempt == _SWAP_ATTEMPTS - 1 or not isinstance(e.__cause__ or e, _LOCK_CONFLICTS):
                    raise
                time.sleep(min(0.05 * (attempt + 1), 0.5))

    def _swap_postgres(self) -> None:
        live = cast(PostgresTrackedView, self._live)
        live_schema, tracking = Identifier(self._db.schema), Identifier(f"{self._name}_tracking")
        shadow_schema, retired = Identifier(self._schema), Identifier(self._retired)
        with psycopg.connect(self._db.url, autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(retired))
            conn.execute(SQL("CREATE SCHEMA {}").format(retired))
        with live.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("SET LOCAL lock_timeout = '500ms'"))
            tables = SQL(", ").join(SQL("{}.{}").format(live_schema, Identifier(n)) for n in self._tables)
            curs.execute(SQL("LOCK TABLE {}, {}.{} IN ACCESS EXCLUSIVE MODE").format(tables, live_schema, tracking))
            for name in self._tables:
                table = Identifier(name)
                # Out first: the shadow's indexes and keys have the same names, unique within a schema.
                curs.execute(SQL("ALTER TABLE {}.{} SET SCHEMA {}").format(live_schema, table, retired))
                curs.execute(SQL("ALTER TABLE {}.{} SET SCHEMA {}").format(shadow_schema, table, live_schema))
            curs.execute(
                SQL("DELETE FROM {}.{} WHERE application_name = %s").format(live_schema, tracking), (UPSTREAM,)
            )
            curs.execute(
                SQL("INSERT INTO {}.{} SELECT * FROM {}.{} WHERE application_name = %s").format(
                    live_schema, tracking, shadow_schema, tracking
                ),
                (UPSTREAM,),
            )

    def discard(self) -> None:
        """Close the shadow and remove its file or schema."""
        self.view.datastore.close()
        if self._db.kind == "sqlite":
            for leftover in (self._path, Path(f"{self._path}-wal"), Path(f"{self._path}-shm")):
                leftover.unlink(missing_ok=True)
        else:
            with psycopg.connect(self._db.url, autocommit=True) as conn:
                for schema in (self._schema, self._retired):  # the shadow, and the tables it replaced
                    conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema)))
