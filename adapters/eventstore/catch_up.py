"""``IngestLedger.events_after``: what other processes appended to many streams, in one query.

When two processes write the same sessions (a batch of many people sent to
any serve worker), nearly every stream a write touches has moved since this
process cached it. One query per stream would cost a round trip each; this
reads them all at once, each stream from its own version on.
"""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from psycopg.sql import SQL, Composable

__all__ = ["postgres_events_after", "sqlite_events_after"]

# SQLite limits a statement's parameters; two per stream.
_SQLITE_STREAMS_PER_QUERY = 400


def postgres_events_after(
    datastore: PostgresDatastore, events_table: Composable, versions: Mapping[UUID, int]
) -> list[StoredEvent]:
    if not versions:
        return []
    statement = SQL(
        "SELECT e.originator_id, e.originator_version, e.topic, e.state"
        " FROM unnest(%s::uuid[], %s::bigint[]) AS w(id, after)"
        " JOIN {} e ON e.originator_id = w.id AND e.originator_version > w.after"
        " ORDER BY e.originator_id, e.originator_version"
    ).format(events_table)
    # Text literals for the arrays: psycopg dumps a list of UUIDs element by element in Python.
    ids = "{" + ",".join(i.hex for i in versions) + "}"
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
