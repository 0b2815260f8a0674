"""The live-activity read model (application.read_models.live_activity) on SQLite and PostgreSQL.

Like every view here, a tracking recorder of the library's whose writes carry
the position, so a page's changes and the position commit together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL

from adapters.database_url import Database
from adapters.read_models.page_rows import write_page
from adapters.read_models.tracked import PostgresTrackedView, SqliteTrackedView, build_view
from application.read_models.ports import LiveActivityView, LiveChanges, LiveSnapshot

__all__ = ["PostgresLiveActivity", "SqliteLiveActivity", "build_live_activity"]


_LIVE_TABLES: Final = (
    "CREATE TABLE IF NOT EXISTS {p}live_active_days (day {date} NOT NULL, subject_id {uuid} NOT NULL,"
    " PRIMARY KEY (day, subject_id))",
    "CREATE TABLE IF NOT EXISTS {p}live_last_seen (subject_id {uuid} PRIMARY KEY, last_event_at {ts} NOT NULL)",
    # Latest join and leave of each person in each Wave: in the Wave while the join is the later.
    "CREATE TABLE IF NOT EXISTS {p}live_wave_presence (wave_id TEXT NOT NULL, subject_id {uuid} NOT NULL,"
    " joined_at {ts}, left_at {ts}, PRIMARY KEY (wave_id, subject_id))",
    # Latest start and completion of each Activation: in progress while the start is the later.
    "CREATE TABLE IF NOT EXISTS {p}live_activation_spans (subject_id {uuid} NOT NULL, activation_id TEXT NOT NULL,"
    " started_at {ts}, ended_at {ts}, PRIMARY KEY (subject_id, activation_id))",
    # The snapshot counts only recent rows of each; without these it would read every row ever written.
    "CREATE INDEX IF NOT EXISTS live_last_seen_by_time ON {p}live_last_seen (last_event_at)",
    "CREATE INDEX IF NOT EXISTS live_wave_presence_by_join ON {p}live_wave_presence (joined_at)",
    "CREATE INDEX IF NOT EXISTS live_activation_spans_by_start ON {p}live_activation_spans (started_at)",
)
_LIVE_NAMES: Final = ("live_active_days", "live_last_seen", "live_wave_presence", "live_activation_spans")


def _later(table: str, column: str) -> str:
    """Keep the later of the stored and the new time (either may be missing)."""
    return (
        f"{column} = CASE WHEN excluded.{column} IS NULL THEN {table}.{column}"
        f" WHEN {table}.{column} IS NULL OR excluded.{column} > {table}.{column} THEN excluded.{column}"
        f" ELSE {table}.{column} END"
    )


def _span_upsert(table: str, key: str, start: str, end: str) -> str:
    """The upsert of a (key, key, start, end) row that keeps the later of each time."""
    return (
        f"INSERT INTO {table} VALUES (?, ?, ?, ?) ON CONFLICT ({key}) DO UPDATE SET "
        f"{_later(table, start)}, {_later(table, end)}"
    )


def _spans(
    starts: Mapping[tuple[Any, Any], datetime], ends: Mapping[tuple[Any, Any], datetime]
) -> list[tuple[Any, ...]]:
    """One row per key that started or ended: (*key, start or None, end or None).

    Unsorted: PostgreSQL's merge takes a page's rows in key order (adapters.read_models.page_rows).
    """
    return [(*key, starts.get(key), ends.get(key)) for key in starts.keys() | ends.keys()]


# Each statement's column types, for PostgreSQL's one statement per page (adapters.read_models.page_rows).
_DAY_SUBJECT: Final = ("date", "uuid")
_SUBJECT_TIME: Final = ("uuid", "timestamptz")
_SPAN_WAVE: Final = ("text", "uuid", "timestamptz", "timestamptz")
_SPAN_ACTIVATION: Final = ("uuid", "text", "timestamptz", "timestamptz")

Statement = tuple[str, list[tuple[Any, ...]], tuple[str, ...]]


def _live_statements(changes: LiveChanges, p: str, mark: str) -> list[Statement]:
    """The SQL of one page's changes, in an order that makes "last change wins" hold, with column types.

    Every row of a statement has a distinct key, so PostgreSQL can take the
    whole page in one statement (an upsert may not touch a row twice).
    """

    def q(sql: str) -> str:
        return sql.replace("{p}", p).replace("?", mark)

    erased = [(s,) for s in sorted(changes.erased)]
    return [
        (
            q("INSERT INTO {p}live_active_days VALUES (?, ?) ON CONFLICT DO NOTHING"),
            list(changes.active_days),
            _DAY_SUBJECT,
        ),
        (
            q(
                "INSERT INTO {p}live_last_seen VALUES (?, ?) ON CONFLICT (subject_id) DO UPDATE"
                " SET last_event_at = excluded.last_event_at"
                " WHERE excluded.last_event_at > {p}live_last_seen.last_event_at"
            ),
            list(changes.last_seen.items()),
            _SUBJECT_TIME,
        ),
        (
            q(_span_upsert(f"{p}live_wave_presence", "wave_id, subject_id", "joined_at", "left_at")),
            _spans(changes.waves_joined, changes.waves_left),
            _SPAN_WAVE,
        ),
        (
            q(_span_upsert(f"{p}live_activation_spans", "subject_id, activation_id", "started_at", "ended_at")),
            _spans(changes.activations_started, changes.activations_ended),
            _SPAN_ACTIVATION,
        ),
        *((q(f"DELETE FROM {{p}}{name} WHERE subject_id = ?"), erased, ("uuid",)) for name in _LIVE_NAMES),
    ]


def _live_snapshot(
    rows: Callable[[str, tuple[Any, ...]], list[Any]],
    *,
    p: str,
    mark: str,
    now: datetime,
    today: date,
    online_within: timedelta,
    activation_window: timedelta,
    wave_window: timedelta,
) -> LiveSnapshot:
    def q(sql: str) -> str:
        return sql.replace("{p}", p).replace("?", mark)

    # One statement for the counts, one for the Waves: the snapshot is read every half second per process.
    # (Each count is named: on PostgreSQL the rows come as dicts, where unnamed columns would collide.)
    ((daily_active_users, online_now, activations_in_progress),) = rows(
        q(
            "SELECT (SELECT count(*) FROM {p}live_active_days WHERE day = ?) AS active,"
            " (SELECT count(*) FROM {p}live_last_seen WHERE last_event_at >= ?) AS online,"
            " (SELECT count(*) FROM {p}live_activation_spans WHERE started_at >= ?"
            " AND (ended_at IS NULL OR started_at > ended_at)) AS in_progress"
        ),
        (today, now - online_within, now - activation_window),
    )
    return LiveSnapshot(
        as_of=now,
        daily_active_users=daily_active_users,
        online_now=online_now,
        microacts_today=0,  # from the daily counts: see LiveActivityProjection.snapshot
        wave_participants=dict(
            rows(
                q(
                    "SELECT wave_id, count(*) FROM {p}live_wave_presence WHERE joined_at >= ?"
                    " AND (left_at IS NULL OR joined_at > left_at) GROUP BY wave_id"
                ),
                (now - wave_window,),
            )
        ),
        activations_in_progress=activations_in_progress,
    )


class _LiveSnapshots:
    """The snapshot: the same SQL on both databases; each view says how it runs a read."""

    _live_prefix = ""  # PostgreSQL: the schema, as '"schema".'
    _live_mark = "?"

    def _read_rows(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        raise NotImplementedError

    def snapshot(
        self,
        now: datetime,
        *,
        today: date | None = None,
        online_within: timedelta,
        activation_window: timedelta,
        wave_window: timedelta,
    ) -> LiveSnapshot:
        return _live_snapshot(
            self._read_rows,
            p=self._live_prefix,
            mark=self._live_mark,
            now=now,
            today=today or now.date(),
            online_within=online_within,
            activation_window=activation_window,
            wave_window=wave_window,
        )


class SqliteLiveActivity(SqliteTrackedView, _LiveSnapshots, LiveActivityView):
    """SQLite stores dates and times as ISO text, which sorts as time does (all UTC)."""

    VIEW_NAME = "live_activity"
    SQLITE_FILE = "live"
    PROJECTION_TABLES = _LIVE_NAMES

    def construct_create_table_statements(self) -> list[str]:
        tables = [t.format(p="", date="TEXT", uuid="TEXT", ts="TEXT") for t in _LIVE_TABLES]
        return [*super().construct_create_table_statements(), *tables]

    def apply(self, changes: LiveChanges, position: int) -> None:
        with self._tracked_write(position) as c:
            for sql, params, _ in _live_statements(changes, "", "?"):
                if params:
                    c.executemany(sql, [tuple(_sqlite_value(v) for v in row) for row in params])

    def _read_rows(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql, tuple(_sqlite_value(v) for v in params))
            return [tuple(r) for r in c.fetchall()]


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, UUID):
        return value.hex
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


class PostgresLiveActivity(PostgresTrackedView, _LiveSnapshots, LiveActivityView):
    VIEW_NAME = "live_activity"
    PROJECTION_TABLES = _LIVE_NAMES
    _live_mark = "%s"

    def __init__(self, datastore: PostgresDatastore, *, tracking_table_name: str, **kwargs: Any) -> None:
        super().__init__(datastore, tracking_table_name=tracking_table_name, **kwargs)
        self._prefix = self._live_prefix = f'"{datastore.schema}".'
        for table in _LIVE_TABLES:
            statement = table.format(p=self._prefix, date="date", uuid="uuid", ts="timestamptz")
            self.sql_create_statements.append(SQL(statement).format())

    def apply(self, changes: LiveChanges, position: int) -> None:
        with self._tracked_write(position) as curs:
            for sql, params, types in _live_statements(changes, self._prefix, "%s"):
                if params:
                    write_page(curs, sql, params, types)

    def _read_rows(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(sql.encode(), params)
            return [tuple(r.values()) for r in curs.fetchall()]


def build_live_activity(db: Database) -> SqliteLiveActivity | PostgresLiveActivity:
    return build_view(db, "live_activity", "live", SqliteLiveActivity, PostgresLiveActivity)
