"""A page of the notification log read from PostgreSQL as plain rows (rebuilds, catch-ups, floors).

The library's ``select_notifications`` builds a dict for every row before its
notification; a rebuild reads millions of rows, so this reads tuples, with the
same statement, order and retries.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from eventsourcing.persistence import Notification
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.utils import retry
from psycopg import InterfaceError, OperationalError
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composable, Composed

__all__ = ["IN_LOG_ORDER", "log_page_statement", "postgres_log_page"]


@retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
def postgres_log_page(
    datastore: PostgresDatastore,
    events_table: Composable,
    start: int,
    limit: int,
    *,
    stop: int | None = None,
    topics: Sequence[str] = (),
) -> list[Notification]:
    """Notifications from ``start`` (inclusive) to ``stop`` (inclusive, if given), only ``topics`` if given."""
    statement, params = log_page_statement(events_table, start, limit, stop=stop, topics=topics)
    # Binary results: a state arrives as its bytes, not as hex text twice its size to decode, and an id as
    # 16 bytes; reading bench/rebuild.py --mixed's 179,839 rows took 0.60-0.73 s instead of 0.82-0.96 s.
    with (
        datastore.get_connection() as conn,
        conn.transaction(),
        conn.cursor(row_factory=tuple_row, binary=True) as curs,
    ):
        # A page is the next rows in log order: the notification_id index read in order, stopping at the
        # limit. Where the table's statistics are missing or stale (no ANALYZE since a bulk load or a
        # restore), the planner took the range and topic filter for a few rows, and instead gathered every
        # remaining row with a bitmap scan and sorted them on disk, page after page: a rebuild of 2.3 M
        # stored events read the rest of the log 23 times (PostgreSQL 15; docs/performance.md, 2026-12-06).
        conn.execute(IN_LOG_ORDER)
        curs.execute(statement, params, prepare=True)
        return [_notification(i, o, v, t, s) for i, o, v, t, s in curs.fetchall()]


IN_LOG_ORDER = SQL("SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off")


def log_page_statement(
    events_table: Composable, start: int, limit: int, *, stop: int | None = None, topics: Sequence[str] = ()
) -> tuple[Composed, list[object]]:
    """The page's SELECT and its parameters (run after ``IN_LOG_ORDER``, in the same transaction)."""
    statement: Composed = SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state FROM {} WHERE notification_id >= %s"
    ).format(events_table)
    params: list[object] = [start]
    if stop is not None:
        statement += SQL(" AND notification_id <= %s")
        params.append(stop)
    if topics:
        statement += SQL(" AND topic = ANY(%s)")
        params.append(list(topics))
    statement += SQL(" ORDER BY notification_id LIMIT %s")
    params.append(limit)
    return statement, params


def _notification(position: int, originator_id: UUID, version: int, topic: str, state: bytes) -> Notification:
    """``Notification(...)``, built as the library's frozen dataclass holds it, without its ``__init__``.

    A frozen dataclass sets each of its five fields with ``object.__setattr__``:
    1.30 µs a row against 0.56 µs here, for every stored event a rebuild reads.
    Equal to one made by its ``__init__`` (dataclass equality compares fields).
    """
    notification = object.__new__(Notification)
    fields = {"originator_id": originator_id, "originator_version": version, "topic": topic, "state": state}
    fields["id"] = position
    object.__setattr__(notification, "__dict__", fields)
    return notification
