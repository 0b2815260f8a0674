"""What an ingest write reads of many streams at once: their last versions, and what others appended.

``IngestLedger.last_versions``: where each stream stands, the archive's
versions included; also read inside the writing transaction for the session
appends (``IngestMarks.appends``). A batch of many people touches thousands
of streams, so this is one query, and one row back, not one per stream.

``IngestLedger.events_after``: when another process (a second serve worker,
the consent API) changed a consent stream this process has cached, just the
events it lacks, each stream from its own version on, all in one query.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteCursor, SQLiteDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composable, Composed

from adapters.connections import array_literal
from application.ports import IngestMarks, LateAppends

__all__ = [
    "ingest_marks",
    "last_versions_statement",
    "postgres_events_after",
    "postgres_last_versions",
    "sqlite_appended",
    "sqlite_events_after",
    "sqlite_last_versions",
]

# SQLite limits a statement's parameters; two per stream.
_SQLITE_STREAMS_PER_QUERY = 400


def postgres_events_after(
    datastore: PostgresDatastore, events_table: Composable, versions: Mapping[UUID, int]
) -> list[StoredEvent]:
    if not versions:
        return []
    # One index range per stream, whatever the planner believes: as a plain join, on a table whose statistics
    # were stale (millions of rows bulk-loaded, autovacuum not yet by), the planner hashed the whole event table
    # in a parallel scan, 1.2 s per write at 6 million events (bench/ingest.py --schema). OFFSET 0 keeps
    # the LATERAL subquery from being flattened back into that join.
    statement = SQL(
        "SELECT e.originator_id, e.originator_version, e.topic, e.state"
        " FROM unnest(%s::uuid[], %s::bigint[]) AS w(id, after)"
        " CROSS JOIN LATERAL (SELECT x.originator_id, x.originator_version, x.topic, x.state FROM {} x"
        " WHERE x.originator_id = w.id AND x.originator_version > w.after OFFSET 0) e"
        " ORDER BY e.originator_id, e.originator_version"
    ).format(events_table)
    # Text literals for the arrays: psycopg dumps a list of UUIDs element by element in Python.
    ids = array_literal(versions)
    after = "{" + ",".join(map(str, versions.values())) + "}"
    with datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(statement, (ids, after), prepare=True)
        return [
            StoredEvent(
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            )
            for row in curs.fetchall()
        ]


def sqlite_events_after(
    datastore: SQLiteDatastore, events_table: str, versions: Mapping[UUID, int]
) -> list[StoredEvent]:
    pairs = [(i.hex, v) for i, v in versions.items()]
    found: list[StoredEvent] = []
    with datastore.transaction(commit=False) as c:
        for start in range(0, len(pairs), _SQLITE_STREAMS_PER_QUERY):
            chunk = pairs[start : start + _SQLITE_STREAMS_PER_QUERY]
            c.execute(
                f"WITH w(id, after) AS (VALUES {','.join(['(?,?)'] * len(chunk))})"
                f" SELECT e.originator_id, e.originator_version, e.topic, e.state FROM w"
                f" JOIN {events_table} e ON e.originator_id = w.id AND e.originator_version > w.after"
                " ORDER BY e.originator_id, e.originator_version",
                [x for pair in chunk for x in pair],
            )
            found += [
                StoredEvent(originator_id=UUID(row[0]), originator_version=row[1], topic=row[2], state=row[3])
                for row in c.fetchall()
            ]
    return found


def last_versions_statement(events_table: Composable, archived_table: Composable) -> Composed:
    """Per stream, the last row of its primary key (one index probe), or else its archived last version."""
    return SQL(
        "SELECT coalesce(array_agg(coalesce(greatest("
        "(SELECT e.originator_version FROM {} e WHERE e.originator_id = w.id"
        " ORDER BY e.originator_version DESC LIMIT 1),"
        " (SELECT a.last_version FROM {} a WHERE a.originator_id = w.id)), 0) ORDER BY w.n), '{{}}') AS versions"
        " FROM unnest(%s::uuid[]) WITH ORDINALITY AS w(id, n)"
    ).format(events_table, archived_table)


def postgres_last_versions(curs: Cursor[DictRow], statement: Composed, stream_ids: Sequence[UUID]) -> list[int]:
    """With ``last_versions_statement``, on the caller's cursor (inside its transaction, if it has one)."""
    # One row back, an array in the order asked: no row or uuid to build per stream in Python.
    curs.execute(statement, (array_literal(stream_ids),), prepare=True)
    row = curs.fetchone()
    return list(row["versions"]) if row else []


def sqlite_last_versions(c: SQLiteCursor, events_table: str, stream_ids: Sequence[UUID]) -> list[int]:
    """The last version of each stream, archived or hot, 0 for none; on the caller's cursor."""
    wanted = [i.hex for i in stream_ids]
    found: dict[str, int] = {}
    for start in range(0, len(wanted), _SQLITE_STREAMS_PER_QUERY):
        chunk = wanted[start : start + _SQLITE_STREAMS_PER_QUERY]
        marks = ",".join("?" * len(chunk))
        # Archived first: a stream's hot rows, when it has any, come after its archived ones.
        c.execute(f"SELECT originator_id, last_version FROM archived_streams WHERE originator_id IN ({marks})", chunk)
        found.update(c.fetchall())
        c.execute(
            f"SELECT originator_id, max(originator_version) FROM {events_table}"
            f" WHERE originator_id IN ({marks}) GROUP BY originator_id",
            chunk,
        )
        found.update(c.fetchall())
    return [found.get(i, 0) for i in wanted]


def sqlite_appended(c: SQLiteCursor, events_table: str, appends: LateAppends) -> list[StoredEvent]:
    """The appends as stored, at the versions their streams have once this transaction holds the write lock."""
    # A write that changes nothing takes the lock, so the versions read next stay true until commit.
    c.execute("DELETE FROM ingested_event_ids WHERE 0")
    return appends.stored(sqlite_last_versions(c, events_table, appends.stream_ids))


def ingest_marks(kwargs: dict[str, Any]) -> IngestMarks | None:
    """The ``ingest_marks`` that ``save`` passed down to the recorder, if any."""
    marks = kwargs.get("ingest_marks")
    return marks if isinstance(marks, IngestMarks) else None
