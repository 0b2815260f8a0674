"""Use case: move closed sessions out of the hot event store, and purge old aggregated metrics.

A ``Session`` stream is *closed* when its last activity (the latest time any
of its events happened or was received) is older than the hot period plus the
session timeout. Events older than 30 days are refused at ingestion, so a
closed session gets no more events unless the app reuses its session id.
Its stored events move, exactly as stored (still encrypted under their
person's key), to the cold archive; readers of the event store see archive
and hot store as one log.

Ages are inside the encrypted state, so the run decrypts the hot Session
events from the oldest on, and stops at the first one received after the
cut-off: the log is in commit order, which is the order of arrival. A stream
moves only when every one of its hot events was read and all are older than
the cut-off. An erased person's events cannot be read: their streams move
when all their events lie before that first recent event.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Final
from uuid import UUID

import msgspec
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from application.due_now import DueNowJob
from application.ports import Clock
from application.retention.ports import ColdStore, MetricsRetention, MovedToArchive
from application.store import AnalyticsStore, log_pages
from domain.periods import Cadence
from domain.redacted import RedactedEvent
from domain.session import DEFAULT_SESSION_TIMEOUT, Session

__all__ = [
    "ArchiveBusy",
    "ArchiveRun",
    "ArchiveSessions",
    "Archiving",
]

HOT_DAYS: Final = 90
METRICS_DAYS: Final = 730
_SESSION_TOPICS: Final = (get_topic(Session.Started), get_topic(Session.EventsTracked))


class ArchiveBusy(Exception):
    """Another archive run holds the archive; wait for it to end (runs are daily)."""


class ArchiveRun(msgspec.Struct, frozen=True, kw_only=True):
    """What one run did."""

    cutoff: datetime
    scanned: int
    sessions: int
    events: int
    bytes: int
    files: tuple[str, ...]
    metrics_before: date
    metrics_purged: int
    seconds: float


class _Stream:
    __slots__ = ("last_activity", "recent", "redacted", "rows")

    def __init__(self) -> None:
        self.rows: list[Notification] = []
        self.last_activity: datetime | None = None
        self.redacted = False
        self.recent = False


class Archiving:
    """``run`` once a day: closed sessions to the archive, aggregated metrics past their retention purged."""

    def __init__(
        self,
        store: AnalyticsStore,
        cold: ColdStore,
        metrics: MetricsRetention,
        clock: Clock,
        *,
        hot_for: timedelta = timedelta(days=HOT_DAYS),
        metrics_for: timedelta = timedelta(days=METRICS_DAYS),
        session_timeout: timedelta = DEFAULT_SESSION_TIMEOUT,
        file_events: int = 200_000,
    ) -> None:
        self._store = store
        self._cold = cold
        self._metrics = metrics
        self._clock = clock
        self._hot_for = hot_for
        self._metrics_for = metrics_for
        self._timeout = session_timeout
        self._file_events = file_events

    def run(self, *, hot_for: timedelta | None = None) -> ArchiveRun:
        started = time.monotonic()
        now = self._clock.now()
        cutoff = now - (self._hot_for if hot_for is None else hot_for) - self._timeout
        with self._cold.exclusive():
            scanned, moved = self._archive(cutoff)
        metrics_before = (now - self._metrics_for).date()
        purged = self._metrics.purge_before(metrics_before)
        return ArchiveRun(
            cutoff=cutoff,
            scanned=scanned,
            sessions=sum(n for n, _ in moved),
            events=sum(m.deleted for _, m in moved),
            bytes=sum(m.bytes for _, m in moved),
            files=tuple(m.file for _, m in moved),
            metrics_before=metrics_before,
            metrics_purged=purged,
            seconds=time.monotonic() - started,
        )

    def _archive(self, cutoff: datetime) -> tuple[int, list[tuple[int, MovedToArchive]]]:
        # The newest row never moves: SQLite gives the next row the largest id in the table plus one.
        newest = self._cold.hot_max_id()
        pending: dict[UUID, _Stream] = {}
        moved: list[tuple[int, MovedToArchive]] = []
        scanned, horizon, flush_at = 0, None, self._file_events
        for notification in self._hot_session_events(newest):
            scanned += 1
            stream_id = notification.originator_id
            stream = pending.setdefault(stream_id if isinstance(stream_id, UUID) else UUID(stream_id), _Stream())
            if self._read(notification, stream, cutoff):
                horizon = notification.id
                break
            if scanned >= flush_at:
                moved += self._move_ready(pending, cutoff, horizon, newest)
                flush_at = scanned + self._file_events
        moved += self._move_ready(pending, cutoff, horizon, newest)
        return scanned, moved

    def _hot_session_events(self, newest: int) -> Iterator[Notification]:
        for page in log_pages(self._cold.select_hot, 1, _SESSION_TOPICS, stop=newest):
            yield from page

    def _read(self, notification: Notification, stream: _Stream, cutoff: datetime) -> bool:
        """Add the event to its stream; True when it is the first received after the cut-off."""
        stream.rows.append(notification)
        event = self._store.mapper.to_domain_event(notification)
        if isinstance(event, RedactedEvent):
            stream.redacted = True
            return False
        if isinstance(event, Session.EventsTracked):
            received = max(t.received_at for t in event.events)
            active = max(received, *(t.occurred_at for t in event.events))
        else:
            received = active = event.started_at  # type: ignore[attr-defined]
        stream.last_activity = max(active, stream.last_activity or active)
        stream.recent = stream.recent or active >= cutoff
        return received >= cutoff

    def _move_ready(
        self, pending: dict[UUID, _Stream], cutoff: datetime, horizon: int | None, newest: int
    ) -> list[tuple[int, MovedToArchive]]:
        """Move every stream whose hot events were all read and are old; forget the others read in full."""
        versions = self._cold.stream_versions(list(pending))
        ready: list[_Stream] = []
        for stream_id, stream in list(pending.items()):
            if versions.get(stream_id) != stream.rows[-1].originator_version:
                continue  # more of it is hot, further on in the log
            del pending[stream_id]
            if _closed(stream, cutoff, horizon) and stream.rows[-1].id != newest:
                ready.append(stream)
        if not ready:
            return []
        rows = sorted((row for stream in ready for row in stream.rows), key=lambda row: row.id)
        return [(len(ready), self._cold.move_to_archive(rows))]


def _closed(stream: _Stream, cutoff: datetime, horizon: int | None) -> bool:
    if stream.recent:
        return False
    if stream.redacted:  # unreadable times: judged by position, before the first event received after the cut-off
        return horizon is None or stream.rows[-1].id < horizon
    return stream.last_activity is not None and stream.last_activity < cutoff


class ArchiveSessions(DueNowJob):
    """Daily, 03:30 UTC: closed sessions past ADDVALUE_HOT_DAYS to the archive; metrics past two years purged."""

    name = "archive"
    schedule = "30 3 * * *"
    cadence: Cadence = "day"
    description = "move closed sessions older than ADDVALUE_HOT_DAYS to the archive; purge metrics older than 2 years"

    def __init__(self, archiving: Archiving) -> None:
        super().__init__(lambda: archiving.run().events)
