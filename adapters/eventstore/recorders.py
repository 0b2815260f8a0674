"""The library's application recorders, plus our ingest ledger in the same transaction.

``save(..., ingest_marks=IngestMarks(...))`` reaches ``_insert_events`` as a
keyword argument (the hook the library itself uses for tracking records), so
the ids of stored events and the not-collected counts commit atomically with
the events: a resend after a crash is either a duplicate or a first write.
A plain INSERT (no ON CONFLICT) makes a concurrent writer of the same id fail
with IntegrityError instead of storing the event twice.

With an archive attached (``use_archive``), the log reads (``select_notifications``,
``max_notification_id``, ``select_events``) show archived and hot rows as one
log, so projections and history need no change; ``archived_streams`` says which
streams have archived rows, and where in the log (see adapters.eventstore.archived_log).
The in-memory twin for unit tests is adapters.eventstore.in_memory.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from adapters.connections import array_literal, checked_without_round_trip
from adapters.eventstore.archived_log import ArchivedLog, EventsRead, Span, archived_spans, nothing_archived
from adapters.eventstore.catch_up import (
    ingest_marks,
    last_versions_statement,
    postgres_events_after,
    postgres_last_versions,
    sqlite_appended,
    sqlite_events_after,
    sqlite_last_versions,
)
from adapters.eventstore.ingest_lock import SqliteIngestLock, postgres_ingest_lock
from adapters.eventstore.log_page import postgres_log_page
from adapters.eventstore.wakeups import events_channel
from adapters.retention.archive import ParquetArchive
from application.ports import IngestLedger
from application.retention.ports import ColdStore, MovedToArchive

__all__ = ["PostgresIngestRecorder", "SqliteIngestRecorder"]


class SqliteIngestRecorder(ArchivedLog, SQLiteApplicationRecorder, IngestLedger, ColdStore):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name)
        self._ingest_lock = SqliteIngestLock(datastore.pool.db_name, datastore.pool.is_sqlite_memory_mode)

    def writing(self, *, alone: bool) -> AbstractContextManager[None]:
        return self._ingest_lock.held(alone=alone)

    def events_after(self, versions: Mapping[UUID, int]) -> list[StoredEvent]:
        return sqlite_events_after(self.datastore, self.events_table_name, versions)

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS ingested_event_ids (event_id TEXT PRIMARY KEY) WITHOUT ROWID",
            "CREATE TABLE IF NOT EXISTS not_collected ("
            " day TEXT NOT NULL, event_name TEXT NOT NULL, n INTEGER NOT NULL,"
            " PRIMARY KEY (day, event_name))",
            "CREATE TABLE IF NOT EXISTS archived_streams (originator_id TEXT PRIMARY KEY,"
            " first_id INTEGER NOT NULL, last_id INTEGER NOT NULL, last_version INTEGER NOT NULL) WITHOUT ROWID",
        ]

    def select_hot(
        self, start: int, limit: int, *, stop: int | None = None, topics: Sequence[str] = ()
    ) -> Sequence[Notification]:
        # The library's own read; super() would come back to ArchivedLog.select_notifications.
        return SQLiteApplicationRecorder.select_notifications(self, start, limit, stop, topics)

    def max_notification_id(self) -> int:
        return max(self.hot_max_id(), self.archive.max_id() if self.archive else 0)

    def hot_max_id(self) -> int:
        return super().max_notification_id() or 0

    def _hot_events(self, originator_id: UUID | str, read: EventsRead) -> Sequence[StoredEvent]:
        return SQLiteApplicationRecorder.select_events(self, originator_id, **read._asdict())

    def _hot_events_and_span(
        self, stream: UUID, read: EventsRead, archive: ParquetArchive
    ) -> tuple[Sequence[StoredEvent], Span]:
        hot = self._hot_events(stream, read)
        # Asked after the hot read: an archive run writes its file before it deletes rows, so
        # when there is still no file, the hot read missed nothing.
        if not archive.files():
            return hot, nothing_archived
        return hot, functools.partial(self._archived_span, stream)

    def _any_archived(self) -> bool:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT 1 FROM archived_streams LIMIT 1")
            return c.fetchone() is not None

    def _archived_span(self, originator_id: UUID) -> tuple[int, int] | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT first_id, last_id FROM archived_streams WHERE originator_id=?", (originator_id.hex,))
            row = c.fetchone()
            return (row[0], row[1]) if row else None

    def move_to_archive(self, rows: Sequence[Notification]) -> MovedToArchive:
        path, size = self._cold().write(rows)
        with self.datastore.transaction(commit=True) as c:
            c.executemany(
                "INSERT INTO archived_streams VALUES (?,?,?,?) ON CONFLICT (originator_id) DO UPDATE SET"
                " first_id = min(first_id, excluded.first_id), last_id = max(last_id, excluded.last_id),"
                " last_version = max(last_version, excluded.last_version)",
                [(s.hex, first, last, version) for s, first, last, version in archived_spans(rows)],
            )
            c.executemany(f"DELETE FROM {self.events_table_name} WHERE rowid=?", [(r.id,) for r in rows])
            deleted = c.sqlite_cursor.rowcount
        return MovedToArchive(file=str(path), bytes=size, deleted=deleted)

    def purge_not_collected(self, before: date) -> int:
        with self.datastore.transaction(commit=True) as c:
            c.execute("DELETE FROM not_collected WHERE day < ?", (before.isoformat(),))
            return int(c.sqlite_cursor.rowcount)

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        marks = ingest_marks(kwargs)
        appended = sqlite_appended(c, self.events_table_name, marks.appends) if marks and marks.appends else []
        ids = super()._insert_events(c, [*stored_events, *appended], **kwargs)
        if marks is not None:
            c.executemany("INSERT INTO ingested_event_ids VALUES (?)", [(e.hex,) for e in marks.event_ids])
            c.executemany(
                "INSERT INTO not_collected VALUES (?,?,?) "
                "ON CONFLICT (day, event_name) DO UPDATE SET n = n + excluded.n",
                [(day.isoformat(), name, n) for (day, name), n in marks.not_collected.items()],
            )
        return None if ids is None else ids[: len(stored_events)]  # the ids of the events the caller mapped

    def known_event_ids(self, event_ids: Iterable[UUID]) -> set[UUID]:
        rows = self._select_in("SELECT event_id FROM ingested_event_ids WHERE event_id IN ({})", event_ids)
        return {UUID(row[0]) for row in rows}

    def last_versions(self, stream_ids: Sequence[UUID]) -> list[int]:
        with self.datastore.transaction(commit=False) as c:
            return sqlite_last_versions(c, self.events_table_name, stream_ids)

    def stream_versions(self, stream_ids: Iterable[UUID]) -> dict[UUID, int]:
        rows = self._select_in(
            f"SELECT originator_id, max(originator_version) FROM {self.events_table_name}"
            " WHERE originator_id IN ({}) GROUP BY originator_id",
            stream_ids,
        )
        return {UUID(row[0]): row[1] for row in rows}

    def _select_in(self, sql: str, ids: Iterable[UUID]) -> list[Any]:
        """The rows of ``sql`` for all of ``ids``, 500 at a time: SQLite limits a statement's parameters."""
        wanted = [i.hex for i in ids]
        found: list[Any] = []
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                c.execute(sql.format(",".join("?" * len(chunk))), chunk)
                found += c.fetchall()
        return found

    def not_collected_total(self) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT coalesce(sum(n), 0) FROM not_collected")
            return int(c.fetchone()[0])


class PostgresIngestRecorder(ArchivedLog, PostgresApplicationRecorder, IngestLedger, ColdStore):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        checked_without_round_trip(datastore)
        # The library's channel is the bare table name, shared by every schema of the database.
        self.channel_name = events_channel(datastore.schema, events_table_name)
        prefix = events_table_name.removesuffix("_events")
        schema = Identifier(datastore.schema)
        self._ids_table = SQL("{}.{}").format(schema, Identifier(f"{prefix}_ingested_event_ids"))
        self._dropped_table = SQL("{}.{}").format(schema, Identifier(f"{prefix}_not_collected"))
        self._archived_table = SQL("{}.{}").format(schema, Identifier(f"{prefix}_archived_streams"))
        self._events_table = SQL("{}.{}").format(schema, Identifier(events_table_name))
        self._select_versions = SQL(
            "SELECT w.id AS originator_id, (SELECT e.originator_version FROM {} e WHERE e.originator_id = w.id"
            " ORDER BY e.originator_version DESC LIMIT 1) AS version FROM unnest(%s::uuid[]) AS w(id)"
        ).format(self._events_table)
        self._select_last_versions = last_versions_statement(self._events_table, self._archived_table)
        self._select_known = SQL("SELECT event_id FROM {} WHERE event_id = ANY(%s::uuid[])").format(self._ids_table)
        # The library's lock statements (SET LOCAL lock_timeout, LOCK TABLE … IN EXCLUSIVE MODE) and
        # its NOTIFY, sent as one query (no parameters, so the simple protocol runs all three): one
        # round trip instead of three, while the table lock is held.
        self._lock_and_notify = SQL("; ").join(
            [*self.lock_table_statements, SQL("NOTIFY {}").format(Identifier(self.channel_name))]
        )
        self._copy_events = SQL(
            "COPY {}.{} (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
        ).format(schema, Identifier(events_table_name))
        self.sql_create_statements += [
            SQL("CREATE TABLE IF NOT EXISTS {} (event_id uuid PRIMARY KEY)").format(self._ids_table),
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (day date NOT NULL, event_name text NOT NULL,"
                " n bigint NOT NULL, PRIMARY KEY (day, event_name))"
            ).format(self._dropped_table),
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (originator_id uuid PRIMARY KEY, first_id bigint NOT NULL,"
                " last_id bigint NOT NULL, last_version bigint NOT NULL)"
            ).format(self._archived_table),
        ]

    def writing(self, *, alone: bool) -> AbstractContextManager[None]:
        return postgres_ingest_lock(self.datastore, self.events_table_name, alone=alone)

    def events_after(self, versions: Mapping[UUID, int]) -> list[StoredEvent]:
        return postgres_events_after(self.datastore, self._events_table, versions)

    def select_hot(
        self, start: int, limit: int, *, stop: int | None = None, topics: Sequence[str] = ()
    ) -> Sequence[Notification]:
        # Not super(): that would come back to ArchivedLog.select_notifications.
        page: list[Notification] = postgres_log_page(
            self.datastore, self._events_table, start, limit, stop=stop, topics=topics
        )
        return page

    def max_notification_id(self) -> int | None:
        top = max(self.hot_max_id(), self.archive.max_id() if self.archive else 0)
        return top or None

    def hot_max_id(self) -> int:
        return super().max_notification_id() or 0

    def _hot_events(self, originator_id: UUID | str, read: EventsRead) -> Sequence[StoredEvent]:
        events: Sequence[StoredEvent] = PostgresApplicationRecorder.select_events(self, originator_id, **read._asdict())
        return events

    def _hot_events_and_span(
        self, stream: UUID, read: EventsRead, archive: ParquetArchive
    ) -> tuple[Sequence[StoredEvent], Span]:
        if not archive.files():
            return self._hot_events(stream, read), nothing_archived
        hot, span = self._select_with_span(stream, read)
        return hot, lambda: span

    def _any_archived(self) -> bool:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT 1 FROM {} LIMIT 1").format(self._archived_table))
            return curs.fetchone() is not None

    def _select_with_span(
        self, originator_id: UUID, read: EventsRead
    ) -> tuple[list[StoredEvent], tuple[int, int] | None]:
        """The hot rows and, in the same round trip, the log range of the stream's archived rows (if it has any).

        A new session's stream is read once before its first write, so this
        keeps ingestion at one query per new session while an archive exists.
        """
        gt, lte, desc, limit = read
        conditions = [SQL("originator_id = %(id)s")]
        if gt is not None:
            conditions.append(SQL("originator_version > %(gt)s"))
        if lte is not None:
            conditions.append(SQL("originator_version <= %(lte)s"))
        where = SQL(" AND ").join(conditions)
        statement = SQL(
            "(SELECT originator_version, topic, state, NULL::bigint AS first_id, NULL::bigint AS last_id"
            " FROM {} WHERE {} ORDER BY originator_version {}{})"
            " UNION ALL (SELECT NULL, NULL, NULL, first_id, last_id FROM {} WHERE originator_id = %(id)s)"
        ).format(
            self._events_table,
            where,
            SQL("DESC") if desc else SQL("ASC"),
            SQL(" LIMIT %(limit)s") if limit is not None else SQL(""),
            self._archived_table,
        )
        params = {"id": originator_id, "gt": gt, "lte": lte, "limit": limit}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params, prepare=True)
            rows = curs.fetchall()
        hot = [
            StoredEvent(
                originator_id=originator_id,
                originator_version=r["originator_version"],
                topic=r["topic"],
                state=bytes(r["state"]),
            )
            for r in rows
            if r["originator_version"] is not None
        ]
        hot.sort(key=lambda e: e.originator_version, reverse=desc)
        span = next(((r["first_id"], r["last_id"]) for r in rows if r["originator_version"] is None), None)
        return hot, span

    def move_to_archive(self, rows: Sequence[Notification]) -> MovedToArchive:
        path, size = self._cold().write(rows)
        spans = archived_spans(rows)
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL(
                    "INSERT INTO {0} AS t SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::bigint[], %s::bigint[])"
                    " ON CONFLICT (originator_id) DO UPDATE SET first_id = least(t.first_id, excluded.first_id),"
                    " last_id = greatest(t.last_id, excluded.last_id),"
                    " last_version = greatest(t.last_version, excluded.last_version)"
                ).format(self._archived_table),
                [list(column) for column in zip(*spans, strict=True)],
            )
            curs.execute(
                SQL("DELETE FROM {} WHERE notification_id = ANY(%s::bigint[])").format(self._events_table),
                ([r.id for r in rows],),
            )
            deleted = curs.rowcount
        return MovedToArchive(file=str(path), bytes=size, deleted=deleted)

    def purge_not_collected(self, before: date) -> int:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("DELETE FROM {} WHERE day < %s").format(self._dropped_table), (before,))
            return curs.rowcount

    # No @retry, unlike the library's: pooled connections are checked before use
    # (adapters.connections.check_without_round_trip), and a retry here would hold the single writer, and every
    # request queued behind it, for the pool timeout once more per attempt.
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """The library's guarantees, written with COPY instead of an INSERT of a composite array.

        Same table, same lock (EXCLUSIVE, so notification ids are issued in commit
        order and projections never pass a gap that fills later), same NOTIFY, and
        the primary key (stream id, version) still turns a concurrent write of
        a stream into IntegrityError. ``IngestMarks.appends`` are mapped once
        the table lock is held, at the versions their streams have then. COPY
        cannot run in psycopg's pipeline mode, so this runs as a plain
        transaction. Notification ids are not returned: nothing here follows
        the application in-process.
        """
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            # The ledger first: it needs no lock, and the table lock is held shortest.
            self._insert_events(curs, stored_events, **kwargs)
            appends = marks.appends if (marks := ingest_marks(kwargs)) else None
            if stored_events or appends is not None:
                curs.execute(self._lock_and_notify)
                if appends is not None:  # under the table lock: no other writer moves their streams now
                    versions = postgres_last_versions(curs, self._select_last_versions, appends.stream_ids)
                    stored_events = [*stored_events, *appends.stored(versions)]
                with curs.copy(self._copy_events) as copy:
                    copy.set_types(["uuid", "int8", "text", "bytea"])
                    for s in stored_events:
                        copy.write_row((s.originator_id, s.originator_version, s.topic, s.state))
        return None

    def _insert_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        marks = ingest_marks(kwargs)
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
        # One statement, so no transaction around it: BEGIN and ROLLBACK would be two more round trips.
        wanted = array_literal(event_ids)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_known, (wanted,), prepare=True)
            return {row["event_id"] for row in curs.fetchall()}

    def last_versions(self, stream_ids: Sequence[UUID]) -> list[int]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            return postgres_last_versions(curs, self._select_last_versions, stream_ids)

    def stream_versions(self, stream_ids: Iterable[UUID]) -> dict[UUID, int]:
        # Per stream, the last row of its primary key (one index probe), not a max() over all its rows:
        # a busy session has thousands.
        wanted = array_literal(stream_ids)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_versions, (wanted,), prepare=True)
            return {row["originator_id"]: row["version"] for row in curs.fetchall() if row["version"] is not None}

    def not_collected_total(self) -> int:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT coalesce(sum(n), 0) AS total FROM {}").format(self._dropped_table))
            row = curs.fetchone()
            return int(row["total"]) if row else 0
