"""The event log read as one: the cold archive (adapters.retention.archive) and the hot store together.

``ArchivedLog`` is the part both recorders (adapters.eventstore.recorders)
share once an archive is attached with ``use_archive``: the log reads
(``select_notifications``, ``select_events``) show archived and hot rows as
one log, so projections and history need no change. Each recorder supplies
its database's reads of the hot store and of ``archived_streams``, the table
that says which streams have archived rows, and where in the log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Final, NamedTuple
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent

from adapters.retention.archive import ParquetArchive, merge_events, needs_archive, read_merged
from application.errors import StorageError

__all__ = ["ArchivedLog", "EventsRead", "Span", "archived_spans", "as_uuid", "nothing_archived"]

_RECHECK_SECONDS: Final = 60.0

# The log range (first and last notification id) of a stream's archived rows, asked only when needed.
Span = Callable[[], tuple[int, int] | None]


def nothing_archived() -> tuple[int, int] | None:
    """The span of a stream read while the archive holds no file."""
    return None


class EventsRead(NamedTuple):
    """The filters of one ``select_events`` call, as the library names them."""

    gt: int | None
    lte: int | None
    desc: bool
    limit: int | None


def as_uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def archived_spans(rows: Sequence[Notification]) -> list[tuple[UUID, int, int, int]]:
    """Per stream: its first and last notification id among the rows, and its last version."""
    spans: dict[UUID, tuple[int, int, int]] = {}
    for r in rows:
        stream = as_uuid(r.originator_id)
        first, last, version = spans.get(stream, (r.id, r.id, r.originator_version))
        spans[stream] = (min(first, r.id), max(last, r.id), max(version, r.originator_version))
    return [(k, *v) for k, v in spans.items()]


class ArchivedLog:
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

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """A stream's hot rows, completed from the archive when it has archived rows that the request reaches."""
        read = EventsRead(gt=gt, lte=lte, desc=desc, limit=limit)
        if self.archive is None:
            return self._hot_events(originator_id, read)
        stream = as_uuid(originator_id)
        hot, span = self._hot_events_and_span(stream, read, self.archive)
        if not needs_archive(hot, gt=gt, desc=desc, limit=limit):
            return hot
        found = span()
        if found is None:
            return hot
        cold = self.archive.stream(stream, *found)
        return merge_events(hot, cold, gt=gt, lte=lte, desc=desc, limit=limit)

    def exclusive(self) -> AbstractContextManager[None]:
        return self._cold().exclusive()

    def _cold(self) -> ParquetArchive:
        if self.archive is None:
            raise RuntimeError("no archive attached: call use_archive() first")
        return self.archive

    # -- per database --------------------------------------------------------
    def select_hot(
        self, start: int, limit: int, *, stop: int | None = None, topics: Sequence[str] = ()
    ) -> Sequence[Notification]:
        """The hot store's rows alone: the library's own read."""
        raise NotImplementedError

    def _hot_events(self, originator_id: UUID | str, read: EventsRead) -> Sequence[StoredEvent]:
        """The stream's hot rows: the library's own read."""
        raise NotImplementedError

    def _hot_events_and_span(
        self, stream: UUID, read: EventsRead, archive: ParquetArchive
    ) -> tuple[Sequence[StoredEvent], Span]:
        """The stream's hot rows, and how to find the log range of its archived rows (none while
        ``archive`` has no file; each recorder checks that where it is safe against an archive run)."""
        raise NotImplementedError

    def _any_archived(self) -> bool:
        raise NotImplementedError
