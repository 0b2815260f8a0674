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
streams have archived rows, and where in the log (see adapters.retention.archive).
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import date
from typing import Any, Final
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, IntegrityError, Notification, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from adapters.connections import checked_without_round_trip
from adapters.retention.archive import ParquetArchive, merge_events, needs_archive, read_merged
from application.errors import StorageError
from application.ports import IngestLedger, IngestMarks
from application.retention.ports import ColdStore, MovedToArchive

_RECHECK_SECONDS: Final = 60.0

__all__ = ["PostgresIngestRecorder", "SqliteIngestRecorder"]


def _marks(kwargs: dict[str, Any]) -> IngestMarks | None:
    marks = kwargs.get("ingest_marks")
    return marks if isinstance(marks, IngestMarks) else None


def _as_uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def _spans(rows: Sequence[Notification]) -> list[tuple[UUID, int, int, int]]:
    """Per stream: its first and last notification id among the rows, and its last version."""
    spans: dict[UUID, tuple[int, int, int]] = {}
    for r in rows:
        stream = _as_uuid(r.originator_id)
        first, last, version = spans.get(stream, (r.id, r.id, r.originator_version))
        spans[stream] = (min(first, r.id), max(last, r.id), max(version, r.originator_version))
    return [(k, *v) for k, v in spans.items()]


class _Archived:
    """The archive side shared by both recorders; they supply the SQL."""

    archive: ParquetArchive | None = None
    _archived_before = False  # once the store says it has archived rows, it always will
    _checked_at = -_RECHECK_SECONDS

    def use_archive(self, archive: ParquetArchive) -> None:
        """Read the log as archive plus hot store from now on, and allow moving rows to the archive."""
        self.archive = archive

    def _archive_in_sight(self, archive: ParquetArchive) -> ParquetArchive:
        """The archive, after checking that its folder is the one this store's events were moved to.

        A process whose ADDVALUE_ARCHIVE_DIR differs from the archive run's would
        otherwise read a log with the archived events silently missing.
        """
        if archive.files():
            return archive
        now = time.monotonic()
        if not self._archived_before and now - self._checked_at >= _RECHECK_SECONDS:
            self._checked_at = now
            self._archived_before = self._any_archived()
        if self._archived_before:
            raise StorageError(
                f"ADDVALUE_ARCHIVE_DIR: this event store has moved events to an archive, but {archive.folder} "
                "holds no archive file; set it to the folder 'addvalue archive run' writes to, on every process"
            )
        return archive

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """The log: the archive and the hot store merged in id order (the hot store alone without one)."""
        first = (start or 0) + (0 if inclusive_of_start and start is not None else 1)
        if self.archive is None:
            return self.select_hot(first, limit, stop=stop, topics=topics)
        return read_merged(
            self._archive_in_sight(self.archive),
            lambda n, bound: self.select_hot(first, n, stop=bound, topics=topics),
            start=first,
            stop=stop,
            limit=limit,
            topics=topics,
        )

    def select_hot(
        self, start: int, limit: int, *, stop: int | None = None, topics: Sequence[str] = ()
    ) -> Sequence[Notification]:
        raise NotImplementedError

    def _any_archived(self) -> bool:
        raise NotImplementedError

    def exclusive(self) -> AbstractContextManager[None]:
        return self._cold().exclusive()

    def _cold(self) -> ParquetArchive:
        if self.archive is None:
            raise RuntimeError("no archive attached: call use_archive() first")
        return self.archive

    def _with_archived(
        self,
        hot: Sequence[StoredEvent],
        originator_id: UUID | str,
        span: Callable[[], tuple[int, int] | None],
        *,
        gt: int | None,
        lte: int | None,
        desc: bool,
        limit: int | None,
    ) -> Sequence[StoredEvent]:
        """The hot rows, completed from the archive when the stream has archived rows that the request reaches."""
        if self.archive is None or not needs_archive(hot, gt=gt, desc=desc, limit=limit):
            return hot
        found = span()
        if found is None:
            return hot
        cold = self.archive.stream(_as_uuid(originator_id), *found)
        return merge_events(hot, cold, gt=gt, lte=lte, desc=desc, limit=limit)


class SqliteIngestRecorder(_Archived, SQLiteApplicationRecorder, IngestLedger, ColdStore):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name)

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
        # The library's own read; super() would come back to _Archived.select_notifications.
        return SQLiteApplicationRecorder.select_notifications(self, start, limit, stop, topics)

    def max_notification_id(self) -> int:
        return max(self.hot_max_id(), self.archive.max_id() if self.archive else 0)

    def hot_max_id(self) -> int:
        return super().max_notification_id() or 0

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        hot = super().select_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        if self.archive is None or not self.archive.files():
            return hot
        stream = _as_uuid(originator_id)
        span = functools.partial(self._archived_span, stream)
        return self._with_archived(hot, stream, span, gt=gt, lte=lte, desc=desc, limit=limit)

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
                [(s.hex, first, last, version) for s, first, last, version in _spans(rows)],
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


class PostgresIngestRecorder(_Archived, PostgresApplicationRecorder, IngestLedger, ColdStore):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        checked_without_round_trip(datastore)
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

    def select_hot(
        self, start: int, limit: int, *, stop: int | None = None, topics: Sequence[str] = ()
    ) -> Sequence[Notification]:
        # The library's own read; super() would come back to _Archived.select_notifications.
        rows: Sequence[Notification] = PostgresApplicationRecorder.select_notifications(
            self, start, limit, stop, list(topics)
        )
        return rows

    def max_notification_id(self) -> int | None:
        top = max(self.hot_max_id(), self.archive.max_id() if self.archive else 0)
        return top or None

    def hot_max_id(self) -> int:
        return super().max_notification_id() or 0

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        if self.archive is None or not self.archive.files():
            events: Sequence[StoredEvent] = super().select_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
            return events
        stream = _as_uuid(originator_id)
        hot, span = self._select_with_span(stream, gt=gt, lte=lte, desc=desc, limit=limit)
        return self._with_archived(hot, stream, lambda: span, gt=gt, lte=lte, desc=desc, limit=limit)

    def _any_archived(self) -> bool:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT 1 FROM {} LIMIT 1").format(self._archived_table))
            return curs.fetchone() is not None

    def _select_with_span(
        self, originator_id: UUID, *, gt: int | None, lte: int | None, desc: bool, limit: int | None
    ) -> tuple[list[StoredEvent], tuple[int, int] | None]:
        """The hot rows and, in the same round trip, the log range of the stream's archived rows (if it has any).

        A new session's stream is read once before its first write, so this
        keeps ingestion at one query per new session while an archive exists.
        """
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
        spans = _spans(rows)
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
        a stream into IntegrityError. COPY cannot run in psycopg's pipeline mode,
        so this runs as a plain transaction. Notification ids are not returned:
        nothing here follows the application in-process.
        """
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            # The ledger first: it needs no lock, and the table lock is held shortest.
            self._insert_events(curs, stored_events, **kwargs)
            if stored_events:
                curs.execute(self._lock_and_notify)
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
        # One statement, so no transaction around it: BEGIN and ROLLBACK would be two more round trips.
        wanted = "{" + ",".join(i.hex for i in event_ids) + "}"  # PostgreSQL reads uuids without hyphens too
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_known, (wanted,), prepare=True)
            return {row["event_id"] for row in curs.fetchall()}

    def stream_versions(self, stream_ids: Iterable[UUID]) -> dict[UUID, int]:
        # Per stream, the last row of its primary key (one index probe), not a max() over all its rows:
        # a busy session has thousands.
        wanted = "{" + ",".join(map(str, stream_ids)) + "}"
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_versions, (wanted,), prepare=True)
            return {row["originator_id"]: row["version"] for row in curs.fetchall() if row["version"] is not None}

    def not_collected_total(self) -> int:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT coalesce(sum(n), 0) AS total FROM {}").format(self._dropped_table))
            row = curs.fetchone()
            return int(row["total"]) if row else 0


class PopoIngestRecorder(POPOApplicationRecorder, IngestLedger):
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
    """``PERSISTENCE_MODULE=adapters.eventstore.recorders:PopoIngestFactory`` selects it."""

    def application_recorder(self) -> ApplicationRecorder:
        return PopoIngestRecorder()
