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

    def stream_versions(self, stream_ids: Iterable[UUID]) -> dict[UUID, int]:
        wanted = [s.hex for s in stream_ids]
        found: dict[UUID, int] = {}
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                c.execute(
                    f"SELECT originator_id, max(originator_version) FROM {self.events_table_name} "
                    f"WHERE originator_id IN ({','.join('?' * len(chunk))}) GROUP BY originator_id",
                    chunk,
                )
                found.update((UUID(row[0]), row[1]) for row in c.fetchall())
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
        self._copy_events = SQL(
            "COPY {}.{} (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
        ).format(schema, Identifier(events_table_name))
        self.sql_create_statements += [
            SQL("CREATE TABLE IF NOT EXISTS {} (event_id uuid PRIMARY KEY)").format(self._ids_table),
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (day date NOT NULL, event_name text NOT NULL,"
                " n bigint NOT NULL, PRIMARY KEY (day, event_name))"
            ).format(self._dropped_table),
        ]

    # No @retry, unlike the library's: pooled connections are checked before use
    # (POSTGRES_PRE_PING), and a retry here would hold the single writer, and every
    # request queued behind it, for the pool timeout once more per attempt.
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """The library's guarantees, written with COPY instead of an INSERT of a composite array.

        Same table, same lock (EXCLUSIVE, so notification ids are issued in commit
        order and projections never pass a gap that fills later), same NOTIFY, and
        the primary key (stream id, version) still turns a concurrent write of
        a stream into IntegrityError. COPY cannot run in psycopg's pipeline mode,
        so this runs as a plain transaction. Notification ids are not returned:
        nothing here follows the application in-process.
        """
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            # The ledger first: it needs no lock, and the table lock is held shortest.
            self._insert_events(curs, stored_events, **kwargs)
            if stored_events:
                self._lock_table(curs)
                self._notify_channel(curs)
                with curs.copy(self._copy_events) as copy:
                    copy.set_types(["uuid", "int8", "text", "bytea"])
                    for s in stored_events:
                        copy.write_row((s.originator_id, s.originator_version, s.topic, s.state))
        return None

    def _insert_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        marks = _marks(kwargs)
        if marks is None:
            return
        if marks.event_ids:
            with curs.copy(SQL("COPY {} (event_id) FROM STDIN (FORMAT BINARY)").format(self._ids_table)) as copy:
                copy.set_types(["uuid"])
                for event_id in marks.event_ids:
                    copy.write_row((event_id,))
        for (day, name), n in marks.not_collected.items():
            curs.execute(
                SQL(
                    "INSERT INTO {} AS t VALUES (%s, %s, %s) "
                    "ON CONFLICT (day, event_name) DO UPDATE SET n = t.n + excluded.n"
                ).format(self._dropped_table),
                (day, name, n),
            )

    def known_event_ids(self, event_ids: Iterable[UUID]) -> set[UUID]:
        # One text literal for the array: psycopg dumps a list of UUIDs element by element in Python.
        wanted = "{" + ",".join(map(str, event_ids)) + "}"
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                SQL("SELECT event_id FROM {} WHERE event_id = ANY(%s::uuid[])").format(self._ids_table), (wanted,)
            )
            return {row["event_id"] for row in curs.fetchall()}

    def stream_versions(self, stream_ids: Iterable[UUID]) -> dict[UUID, int]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                SQL(
                    "SELECT originator_id, max(originator_version) AS version FROM {}.{} "
                    "WHERE originator_id = ANY(%s) GROUP BY originator_id"
                ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name)),
                (list(stream_ids),),
            )
            return {row["originator_id"]: row["version"] for row in curs.fetchall()}

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

    def stream_versions(self, stream_ids: Iterable[UUID]) -> dict[UUID, int]:
        found = {}
        for stream_id in stream_ids:
            versions = self._stored_events_index.get(str(stream_id))
            if versions:
                found[stream_id] = max(versions)
        return found

    def not_collected_total(self) -> int:
        return sum(self._not_collected.values())


class PopoIngestFactory(POPOFactory):
    """``PERSISTENCE_MODULE=adapters.recorders:PopoIngestFactory`` selects it."""

    def application_recorder(self) -> ApplicationRecorder:
        return PopoIngestRecorder()
