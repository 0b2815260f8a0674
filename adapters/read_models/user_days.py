"""The per-person-day read model (application.read_models.user_days) on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import date
from typing import TYPE_CHECKING, Any, Final, cast
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore
from psycopg.rows import tuple_row
from psycopg.sql import SQL

from adapters.database_url import Database
from adapters.read_models.page_rows import write_page
from adapters.read_models.tracked import PostgresTrackedView, SqliteTrackedView, build_view
from application.read_models.ports import DayMetrics, UserDaysChanges, UserDaysView
from application.reporting.ports import IndexSummaries, PersonReads

__all__ = ["PostgresUserDays", "SqliteUserDays", "build_user_days"]

_TABLES: Final = (
    "CREATE TABLE IF NOT EXISTS {p}user_day_counts (subject_id {uuid} NOT NULL, day {date} NOT NULL,"
    " metric TEXT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (subject_id, day, metric))",
    "CREATE TABLE IF NOT EXISTS {p}user_day_moods (subject_id {uuid} NOT NULL, day {date} NOT NULL,"
    " phase TEXT NOT NULL, mood INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS user_day_moods_by_subject ON {p}user_day_moods (subject_id, day)",
)
_NAMES: Final = ("user_day_counts", "user_day_moods")
# Written by the daily-indices job, not by the projection: a rebuild keeps them; an erasure does not.
_INDICES_TABLE: Final = (
    "CREATE TABLE IF NOT EXISTS {p}user_day_indices (subject_id {uuid} NOT NULL, day {date} NOT NULL,"
    " result TEXT NOT NULL, PRIMARY KEY (subject_id, day))"
)
# What the index dashboards show of a day, computed once from its indices (application.reporting.queries) and kept
# while ``summary_version`` is the day's ``version``: storing a day's indices, or erasing a person who has some
# that day, moves ``version`` on in the same transaction, and a summary computed before that is never stored.
_SUMMARIES_TABLE: Final = (
    "CREATE TABLE IF NOT EXISTS {p}user_day_index_summaries (day {date} PRIMARY KEY, version BIGINT NOT NULL,"
    " summary TEXT, summary_version BIGINT)"
)
_BUMP: Final = (
    " ON CONFLICT (day) DO UPDATE SET version = {p}user_day_index_summaries.version + 1, summary = NULL,"
    " summary_version = NULL"
)


class _SharedSql:
    """The statements, the same on both databases but for placeholders and value types."""

    prefix = ""
    mark = "?"

    def _q(self, sql: str) -> str:
        return sql.replace("{p}", self.prefix).replace("?", self.mark)

    def _v(self, value: Any) -> Any:
        return value

    def _cursor(self, *, commit: bool) -> AbstractContextManager[Any]:
        raise NotImplementedError

    if TYPE_CHECKING:  # given by the tracked-view base each view also has

        def _tracked_write(self, position: int) -> AbstractContextManager[Any]: ...

    def apply(self, changes: UserDaysChanges, position: int) -> None:
        with self._tracked_write(position) as cursor:
            self._changes(cursor, changes)

    def _changes(self, cursor: Any, changes: UserDaysChanges) -> None:
        # Unsorted: PostgreSQL's merge takes them in key order (adapters.read_models.page_rows); SQLite has one writer.
        counts = [(self._v(s), self._v(d), m, n) for (s, d, m), n in changes.counts.items()]
        if counts:
            self._add_counts(cursor, counts)
        if changes.moods:
            self._add_moods(cursor, [(self._v(s), self._v(d), phase, mood) for s, d, phase, mood in changes.moods])
        for subject in changes.erased:  # the days whose summaries counted them are summed up again
            cursor.execute(
                self._q(
                    "INSERT INTO {p}user_day_index_summaries (day, version) SELECT day, 1 FROM {p}user_day_indices"
                    " WHERE subject_id = ?" + _BUMP
                ),
                (self._v(subject),),
            )
        for name in (*_NAMES, "user_day_indices"):
            for subject in changes.erased:
                cursor.execute(self._q(f"DELETE FROM {{p}}{name} WHERE subject_id = ?"), (self._v(subject),))

    def _add_moods(self, cursor: Any, moods: list[tuple[Any, ...]]) -> None:
        cursor.executemany(self._q("INSERT INTO {p}user_day_moods VALUES (?, ?, ?, ?)"), moods)

    def _add_counts(self, cursor: Any, counts: list[tuple[Any, ...]]) -> None:
        cursor.executemany(
            self._q(
                "INSERT INTO {p}user_day_counts VALUES (?, ?, ?, ?) ON CONFLICT (subject_id, day, metric)"
                " DO UPDATE SET n = {p}user_day_counts.n + excluded.n"
            ),
            counts,
        )

    def _reading(self) -> AbstractContextManager[Any]:
        """A cursor for one statement that only reads (its own consistent snapshot)."""
        return self._cursor(commit=False)

    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._reading() as cursor:
            cursor.execute(self._q(sql), tuple(self._v(p) for p in params))
            return [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in cursor.fetchall()]

    def days_of(self, subject_id: UUID, first: date, last: date) -> list[DayMetrics]:
        return _day_metrics(self._rows(_DAYS_SQL, (subject_id, first, last, subject_id, first, last)))

    def activity_of(self, subject_id: UUID, first: date, last: date) -> tuple[list[DayMetrics], list[date]]:
        """``days_of(first, last)``, and every day up to ``last`` with a collected event: one query."""
        rows = self._rows(
            "SELECT day, 0 AS kind, metric AS name, n AS value FROM {p}user_day_counts WHERE subject_id = ?"
            " AND day <= ? AND (day >= ? OR metric = 'events')"
            " UNION ALL SELECT day, 1 AS kind, phase AS name, mood AS value FROM {p}user_day_moods"
            " WHERE subject_id = ? AND day >= ? AND day <= ?",
            (subject_id, last, first, subject_id, first, last),
        )
        active = sorted({_day(d) for d, kind, name, n in rows if kind == 0 and name == "events" and int(n)})
        return _day_metrics([r for r in rows if _day(r[0]) >= first]), active

    def index_and_days(self, subject_id: UUID, day: date, first: date) -> tuple[bytes | None, int]:
        """``indices_of(day)`` and how many days ``days_of(first, day)`` would return: one query."""
        rows = self._rows(
            "SELECT (SELECT result FROM {p}user_day_indices WHERE subject_id = ? AND day = ?) AS result,"
            " (SELECT count(*) FROM (SELECT day FROM {p}user_day_counts WHERE subject_id = ? AND day >= ?"
            " AND day <= ? UNION SELECT day FROM {p}user_day_moods WHERE subject_id = ? AND day >= ? AND day <= ?)"
            " AS d) AS days",
            (subject_id, day, subject_id, first, day, subject_id, first, day),
        )
        result, days = rows[0]
        return (None if result is None else result.encode()), int(days)

    def active_people(self, first: date, last: date) -> int:
        found = self._rows(
            "SELECT count(DISTINCT subject_id) FROM {p}user_day_counts"
            " WHERE metric = 'events' AND day >= ? AND day <= ?",
            (first, last),
        )
        return int(found[0][0])

    def people_active(self, first: date, last: date) -> list[UUID]:
        rows = self._rows(
            "SELECT DISTINCT subject_id FROM {p}user_day_counts WHERE metric = 'events' AND day >= ? AND day <= ?",
            (first, last),
        )
        return sorted(UUID(str(r[0])) for r in rows)

    def put_indices(self, day: date, results: dict[UUID, bytes]) -> None:
        with self._cursor(commit=True) as cursor:
            cursor.executemany(
                self._q(
                    "INSERT INTO {p}user_day_indices VALUES (?, ?, ?) ON CONFLICT (subject_id, day)"
                    " DO UPDATE SET result = excluded.result"
                ),
                [(self._v(s), self._v(day), r.decode()) for s, r in sorted(results.items())],
            )
            cursor.execute(
                self._q("INSERT INTO {p}user_day_index_summaries (day, version) VALUES (?, 1)" + _BUMP), (self._v(day),)
            )

    def index_summaries(self, first: date, last: date) -> dict[date, bytes]:
        """The kept summaries of the days in [first, last] that are still current (see _SUMMARIES_TABLE)."""
        rows = self._rows(
            "SELECT day, summary FROM {p}user_day_index_summaries WHERE day >= ? AND day <= ?"
            " AND summary_version = version",
            (first, last),
        )
        return {_day(day): summary.encode() for day, summary in rows}

    def indices_with_version(self, day: date) -> tuple[int, list[bytes]]:
        """Every stored index result of ``day``, and the day's version, as of one moment."""
        rows = self._rows(
            "SELECT coalesce((SELECT version FROM {p}user_day_index_summaries WHERE day = ?), 0) AS version,"
            " result FROM (SELECT 1 AS one) AS o LEFT JOIN {p}user_day_indices ON day = ?",
            (day, day),
        )
        return int(rows[0][0]), [r[1].encode() for r in rows if r[1] is not None]

    def put_index_summary(self, day: date, version: int, summary: bytes) -> bool:
        """Keep ``summary`` of ``day`` if the day is still at ``version``; False if it has moved on."""
        with self._cursor(commit=True) as cursor:
            cursor.execute(
                self._q(
                    "INSERT INTO {p}user_day_index_summaries AS s (day, version, summary, summary_version)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (day) DO UPDATE SET summary = excluded.summary,"
                    " summary_version = excluded.summary_version WHERE s.version = excluded.version RETURNING day"
                ),
                (self._v(day), version, summary.decode(), version),
            )
            return bool(cursor.fetchall())

    def indices_of(self, subject_id: UUID, day: date) -> bytes | None:
        rows = self._rows("SELECT result FROM {p}user_day_indices WHERE subject_id = ? AND day = ?", (subject_id, day))
        return rows[0][0].encode() if rows else None

    def day_totals(self, day: date) -> dict[str, int]:
        rows = self._rows("SELECT metric, sum(n) FROM {p}user_day_counts WHERE day = ? GROUP BY metric", (day,))
        return {metric: int(total) for metric, total in rows}

    def people_with(self, metric: str, first: date, last: date) -> int:
        rows = self._rows(
            "SELECT count(DISTINCT subject_id) FROM {p}user_day_counts WHERE metric = ? AND day >= ? AND day <= ?",
            (metric, first, last),
        )
        return int(rows[0][0])

    def first_days(self, since: date) -> dict[UUID, date]:
        rows = self._rows(
            "SELECT subject_id, min(day) FROM {p}user_day_counts WHERE metric = 'events'"
            " GROUP BY subject_id HAVING min(day) >= ?",
            (since,),
        )
        return {UUID(str(subject)): _day(first) for subject, first in rows}

    def active_days(self, first: date, last: date) -> dict[UUID, set[date]]:
        rows = self._rows(
            "SELECT subject_id, day FROM {p}user_day_counts WHERE metric = 'events' AND day >= ? AND day <= ?",
            (first, last),
        )
        found: dict[UUID, set[date]] = {}
        for subject, day in rows:
            found.setdefault(UUID(str(subject)), set()).add(_day(day))
        return found

    def indices_on(self, day: date) -> list[bytes]:
        return [r[0].encode() for r in self._rows("SELECT result FROM {p}user_day_indices WHERE day = ?", (day,))]

    def new_people(self, day: date) -> int:
        rows = self._rows(
            "SELECT count(*) FROM (SELECT subject_id FROM {p}user_day_counts WHERE metric = 'events'"
            " GROUP BY subject_id HAVING min(day) = ?) AS first_days",
            (day,),
        )
        return int(rows[0][0])


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


# A person's counts (kind 0: metric, n) and moods (kind 1: phase, mood) in [first, last], in one read.
_DAYS_SQL: Final = (
    "SELECT day, 0 AS kind, metric AS name, n AS value FROM {p}user_day_counts"
    " WHERE subject_id = ? AND day >= ? AND day <= ?"
    " UNION ALL SELECT day, 1 AS kind, phase AS name, mood AS value FROM {p}user_day_moods"
    " WHERE subject_id = ? AND day >= ? AND day <= ?"
)


def _day_metrics(rows: list[tuple[Any, ...]]) -> list[DayMetrics]:
    days: dict[date, tuple[dict[str, int], list[int], list[int]]] = {}
    for day, kind, name, value in rows:
        counts, starts, ends = days.setdefault(_day(day), ({}, [], []))
        if kind == 0:
            counts[name] = int(value)
        else:
            (starts if name == "start" else ends).append(int(value))
    return [
        DayMetrics(day=d, counts=c, moods_start=tuple(sorted(s)), moods_end=tuple(sorted(e)))
        for d, (c, s, e) in sorted(days.items())
    ]


class SqliteUserDays(SqliteTrackedView, _SharedSql, UserDaysView, PersonReads, IndexSummaries):
    VIEW_NAME = "user_days"
    SQLITE_FILE = "user_days"
    PROJECTION_TABLES = _NAMES

    def construct_create_table_statements(self) -> list[str]:
        tables = [t.format(p="", uuid="TEXT", date="TEXT") for t in (*_TABLES, _INDICES_TABLE, _SUMMARIES_TABLE)]
        return [*super().construct_create_table_statements(), *tables]

    def _v(self, value: Any) -> Any:
        if isinstance(value, UUID):
            return value.hex
        if isinstance(value, date):
            return value.isoformat()
        return value

    def _cursor(self, *, commit: bool) -> AbstractContextManager[Any]:
        return self.datastore.transaction(commit=commit)


class PostgresUserDays(PostgresTrackedView, _SharedSql, UserDaysView, PersonReads, IndexSummaries):
    VIEW_NAME = "user_days"
    PROJECTION_TABLES = _NAMES

    mark = "%s"

    def __init__(self, datastore: PostgresDatastore, *, tracking_table_name: str, **kwargs: Any) -> None:
        super().__init__(datastore, tracking_table_name=tracking_table_name, **kwargs)
        self.prefix = f'"{datastore.schema}".'
        for table in (*_TABLES, _INDICES_TABLE, _SUMMARIES_TABLE):
            statement = table.format(p=self.prefix, uuid="uuid", date="date")
            self.sql_create_statements.append(SQL(statement).format())

    def _add_counts(self, cursor: Any, counts: list[tuple[Any, ...]]) -> None:
        # One merge for the page's rows (its keys are distinct): a page holds tens of thousands.
        sql = self._q(
            "INSERT INTO {p}user_day_counts VALUES (?, ?, ?, ?) ON CONFLICT (subject_id, day, metric)"
            " DO UPDATE SET n = {p}user_day_counts.n + excluded.n"
        )
        write_page(cursor, sql, counts, ("uuid", "date", "text", "bigint"))

    def _add_moods(self, cursor: Any, moods: list[tuple[Any, ...]]) -> None:
        sql = self._q("INSERT INTO {p}user_day_moods VALUES (?, ?, ?, ?)")
        write_page(cursor, sql, moods, ("uuid", "date", "text", "integer"))

    def _cursor(self, *, commit: bool) -> AbstractContextManager[Any]:
        return cast(Callable[..., AbstractContextManager[Any]], self.datastore.transaction)(commit=commit)

    @contextmanager
    def _reading(self) -> Iterator[Any]:
        # No BEGIN and ROLLBACK around it (the pool's connections are in autocommit), and plain tuples.
        with self.datastore.get_connection() as conn:
            yield conn.cursor(row_factory=tuple_row)


def build_user_days(db: Database) -> SqliteUserDays | PostgresUserDays:
    return build_view(db, "user_days", "user_days", SqliteUserDays, PostgresUserDays)
