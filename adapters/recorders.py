"""The library's application recorders, plus our ingest ledger in the same transaction.

``save(..., ingest_marks=IngestMarks(...))`` reaches ``_insert_events`` as a
keyword argument (the hook the library itself uses for tracking records), so
the ids of stored events and the not-collected counts commit atomically with
the events: a resend after a crash is either a duplicate or a first write.
A plain INSERT (no ON CONFLICT) makes a concurrent writer of the same id fail
with IntegrityError instead of storing the event twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, IntegrityError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from application.ports import IngestMarks

__all__ = ["PostgresIngestRecorder", "SqliteIngestRecorder"]


def _marks(kwargs: dict[str, Any]) -> IngestMarks | None:
    marks = kwargs.get("ingest_marks")
    return marks if isinstance(marks, IngestMarks) else None


class SqliteIngestRecorder(SQLiteApplicationRecorder):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name)

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS ingested_event_ids (event_id TEXT PRIMARY KEY) WITHOUT ROWID",
            "CREATE TABLE IF NOT EXISTS not_collected ("
            " day TEXT NOT NULL, event_name TEXT NOT NULL, n INTEGER NOT NULL,"
            " PRIMARY KEY (day, event_name))",
        ]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        marks = _marks(kwargs)
        if marks is not None:
            c.executemany("INSERT INTO ingested_event_ids VALUES (?)", [(e.hex,) for e in marks.event_ids])
            c.executemany(
                "INSERT INTO not_collected VALUES (?,?,?) "
                "ON CONFLICT (day, event_name) DO UPDATE SET n = n + excluded.n",
                [(day.isoformat(), name, n) for (day, name), n in marks.not_collected.items()],
            )
        return ids

    def known_event_ids(self, event_ids: Iterable[UUID]) -> set[UUID]:
        wanted = [e.hex for e in event_ids]
        found: set[UUID] = set()
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                c.execute(
                    f"SELECT event_id FROM ingested_event_ids WHERE event_id IN ({','.join('?' * len(chunk))})", chunk
                )
                found.update(UUID(row[0]) for row in c.fetchall())
        return found

    def not_collected_total(self) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT coalesce(sum(n), 0) FROM not_collected")
            return int(c.fetchone()[0])


class PostgresIngestRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        prefix = events_table_name.removesuffix("_events")
        schema = Identifier(datastore.schema)
        self._ids_table = SQL("{}.{}").format(schema, Identifier(f"{prefix}_ingested_event_ids"))
        self._dropped_table = SQL("{}.{}").format(schema, Identifier(f"{prefix}_not_collected"))
        self.sql_create_statements += [
            SQL("CREATE TABLE IF NOT EXISTS {} (event_id uuid PRIMARY KEY)").format(self._ids_table),
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (day date NOT NULL, event_name text NOT NULL,"
                " n bigint NOT NULL, PRIMARY KEY (day, event_name))"
            ).format(self._dropped_table),
        ]

    def _insert_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        marks = _marks(kwargs)
        if marks is None:
            return
        if marks.event_ids:
            curs.execute(
                SQL("INSERT INTO {} SELECT unnest(%s::uuid[])").format(self._ids_table),
                (marks.event_ids,),
            )
        for (day, name), n in marks.not_collected.items():
            curs.execute(
                SQL(
                    "INSERT INTO {} AS t VALUES (%s, %s, %s) "
                    "ON CONFLICT (day, event_name) DO UPDATE SET n = t.n + excluded.n"
                ).format(self._dropped_table),
                (day, name, n),
            )

    def known_event_ids(self, event_ids: Iterable[UUID]) -> set[UUID]:
        wanted = list(event_ids)
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT event_id FROM {} WHERE event_id = ANY(%s)").format(self._ids_table), (wanted,))
            return {row["event_id"] for row in curs.fetchall()}

    def not_collected_total(self) -> int:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT coalesce(sum(n), 0) AS total FROM {}").format(self._dropped_table))
            row = curs.fetchone()
            return int(row["total"]) if row else 0


class PopoIngestRecorder(POPOApplicationRecorder):
    """In memory, for unit tests: the library's own fake, with the same ledger semantics."""

    def __init__(self) -> None:
        super().__init__()
        self._event_ids: set[UUID] = set()
        self._not_collected: Counter[tuple[object, str]] = Counter()

    def _insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        marks = _marks(kwargs)
        if marks is not None and self._event_ids.intersection(marks.event_ids):
            raise IntegrityError("event id already recorded")
        ids = super()._insert_events(stored_events, **kwargs)
        if marks is not None:
            self._event_ids.update(marks.event_ids)
            self._not_collected.update(marks.not_collected)
        return ids

    def known_event_ids(self, event_ids: Iterable[UUID]) -> set[UUID]:
        return self._event_ids.intersection(event_ids)

    def not_collected_total(self) -> int:
        return sum(self._not_collected.values())


class PopoIngestFactory(POPOFactory):
    """``PERSISTENCE_MODULE=adapters.recorders:PopoIngestFactory`` selects it."""

    def application_recorder(self) -> ApplicationRecorder:
        return PopoIngestRecorder()
