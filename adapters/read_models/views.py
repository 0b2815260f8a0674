"""Read models as the library intends: tracking recorders whose writes carry the position.

Each write of a view changes its rows and its tracking row (the position in
the event store's notification log) in one transaction, so a view is never
ahead of or behind what it says it has processed. Rebuilding clears both in
one transaction too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final, TypeVar, cast

import msgspec
import psycopg
from eventsourcing.persistence import InfrastructureFactory, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder
from eventsourcing.utils import Environment
from psycopg.sql import SQL, Identifier

from adapters.connections import checked_without_round_trip
from adapters.database_url import Database
from adapters.eventstore.persistence import event_store_env
from application.read_models.ports import DailyCountsView, Shadow

__all__ = [
    "PostgresDailyCounts",
    "ShadowView",
    "SqliteDailyCounts",
    "build_daily_counts",
    "build_view",
    "factory_for",
]

UPSTREAM: Final = "AddValue"
S = TypeVar("S", bound=SQLiteTrackingRecorder)
P = TypeVar("P", bound=PostgresTrackingRecorder)  # the event store application's name, as tracked
DailyCounts = dict[tuple[date, str], int]


class SqliteDailyCounts(SQLiteTrackingRecorder, DailyCountsView):
    VIEW_NAME = "daily_counts"
    SQLITE_FILE = "views"
    PROJECTION_TABLES = ("daily_event_counts", "hourly_event_counts")

    def __init__(self, datastore: SQLiteDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)

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

    def position(self) -> int:
        return self.max_tracking_id(UPSTREAM) or 0

    def add(
        self,
        counts: Mapping[tuple[date, str], int],
        position: int,
        hourly: Mapping[tuple[datetime, str], int] | None = None,
        later: Sequence[tuple[Mapping[tuple[date, str], int], Mapping[tuple[date, str], int]]] = (),
    ) -> None:
        upsert = "INSERT INTO daily_event_counts VALUES (?,?,?) ON CONFLICT (day, event_name) DO UPDATE SET "
        add, floor = upsert + "n = n + excluded.n", upsert + "n = max(n, excluded.n)"
        with self.datastore.transaction(commit=True) as c:
            c.executemany(add, [(day.isoformat(), name, n) for (day, name), n in counts.items()])
            for floors, after in later:
                c.executemany(floor, [(day.isoformat(), name, n) for (day, name), n in floors.items()])
                c.executemany(add, [(day.isoformat(), name, n) for (day, name), n in after.items()])
            c.executemany(
                "INSERT INTO hourly_event_counts VALUES (?,?,?) "
                "ON CONFLICT (hour, name) DO UPDATE SET n = n + excluded.n",
                [(_hour_text(hour), name, n) for (hour, name), n in (hourly or {}).items()],
            )
            self._insert_tracking(c, Tracking(UPSTREAM, position))

    def reset(self) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute("DELETE FROM daily_event_counts")
            c.execute("DELETE FROM hourly_event_counts")
            c.execute("DELETE FROM tracking WHERE application_name=?", (UPSTREAM,))

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


class PostgresDailyCounts(PostgresTrackingRecorder, DailyCountsView):
    VIEW_NAME = "daily_counts"
    PROJECTION_TABLES = ("daily_event_counts", "hourly_event_counts")

    def __init__(self, datastore: PostgresDatastore, *, tracking_table_name: str, **kwargs: Any) -> None:
        super().__init__(datastore, tracking_table_name=tracking_table_name, **kwargs)
        checked_without_round_trip(datastore)
        schema = Identifier(datastore.schema)
        self._table = SQL("{}.{}").format(schema, Identifier("daily_event_counts"))
        self._hourly = SQL("{}.{}").format(schema, Identifier("hourly_event_counts"))
        self._tracking = SQL("{}.{}").format(schema, Identifier(tracking_table_name))
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

    def position(self) -> int:
        return self.max_tracking_id(UPSTREAM) or 0

    def add(
        self,
        counts: Mapping[tuple[date, str], int],
        position: int,
        hourly: Mapping[tuple[datetime, str], int] | None = None,
        later: Sequence[tuple[Mapping[tuple[date, str], int], Mapping[tuple[date, str], int]]] = (),
    ) -> None:
        add = SQL(
            "INSERT INTO {} AS t VALUES (%s, %s, %s) ON CONFLICT (day, event_name) DO UPDATE SET n = t.n + excluded.n"
        ).format(self._table)
        floor = SQL(
            "INSERT INTO {} AS t VALUES (%s, %s, %s)"
            " ON CONFLICT (day, event_name) DO UPDATE SET n = GREATEST(t.n, excluded.n)"
        ).format(self._table)
        with self.datastore.transaction(commit=True) as curs:
            steps = [(add, counts)] + [step for floors, after in later for step in ((floor, floors), (add, after))]
            for statement, rows in steps:
                if rows:
                    curs.executemany(statement, [(day, name, n) for (day, name), n in sorted(rows.items())])
            if hourly:
                curs.executemany(
                    SQL(
                        "INSERT INTO {} AS t VALUES (%s, %s, %s) "
                        "ON CONFLICT (hour, name) DO UPDATE SET n = t.n + excluded.n"
                    ).format(self._hourly),
                    [(hour, name, n) for (hour, name), n in sorted(hourly.items())],
                )
            self._insert_tracking(curs, Tracking(UPSTREAM, position))

    def reset(self) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("DELETE FROM {}").format(self._table))
            curs.execute(SQL("DELETE FROM {}").format(self._hourly))
            curs.execute(SQL("DELETE FROM {} WHERE application_name = %s").format(self._tracking), (UPSTREAM,))

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


def build_view(db: Database, name: str, sqlite_file: str, on_sqlite: type[S], on_postgres: type[P]) -> S | P:
    """A tracking-recorder view with a tracking row of its own.

    SQLite: a sibling file (``addvalue.<sqlite_file>.db``), since the library's
    SQLite tracking table has a fixed name. PostgreSQL: tables prefixed with
    ``name`` in the service's schema, on a small pool of their own.
    """
    env = event_store_env(db)
    env.pop("APPLICATION_RECORDER_TOPIC")
    if db.kind == "sqlite":
        env["SQLITE_DBNAME"] = str(db.sibling(sqlite_file))
        return cast(S, factory_for(env, name).tracking_recorder(on_sqlite))
    env["POSTGRES_POOL_SIZE"] = "2"
    return cast(P, factory_for(env, name).tracking_recorder(on_postgres))


def factory_for(env: dict[str, str], name: str = "daily_counts") -> InfrastructureFactory[Any]:
    # The environment's name prefixes PostgreSQL table names: daily_counts_tracking.
    return InfrastructureFactory.construct(Environment(name, env))


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

    def __init__(self, db: Database, live: SQLiteTrackingRecorder | PostgresTrackingRecorder) -> None:
        self._db = db
        self._live = live
        self._tables: tuple[str, ...] = live.PROJECTION_TABLES  # type: ignore[union-attr]
        self._name: str = live.VIEW_NAME  # type: ignore[union-attr]
        if db.kind == "sqlite":
            self._path = db.sibling(f"{live.SQLITE_FILE}.rebuild")  # type: ignore[union-attr]
            for leftover in (self._path, Path(f"{self._path}-wal"), Path(f"{self._path}-shm")):
                leftover.unlink(missing_ok=True)
            env = event_store_env(db)
            env.pop("APPLICATION_RECORDER_TOPIC")
            env["SQLITE_DBNAME"] = str(self._path)
        else:
            self._schema = f"{db.schema}_rebuild_{self._name}"  # one per view: several may rebuild at once
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
        live = cast(SQLiteTrackingRecorder, self._live)
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
        live = cast(PostgresTrackingRecorder, self._live)
        live_schema, tracking = Identifier(self._db.schema), Identifier(f"{self._name}_tracking")
        shadow_schema = Identifier(self._schema)
        with live.datastore.transaction(commit=True) as curs:
            for name in (*self._tables, f"{self._name}_tracking"):
                table = Identifier(name)
                curs.execute(SQL("LOCK TABLE {}.{} IN EXCLUSIVE MODE").format(live_schema, table))
            for name in self._tables:
                table = Identifier(name)
                curs.execute(SQL("DELETE FROM {}.{}").format(live_schema, table))
                curs.execute(
                    SQL("INSERT INTO {}.{} SELECT * FROM {}.{}").format(live_schema, table, shadow_schema, table)
                )
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
                conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(self._schema)))
