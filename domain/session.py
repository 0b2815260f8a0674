"""The ``Session`` aggregate: one stream per app session, carrying its tracked events.

Events are recorded in groups: one ``EventsTracked`` per session per write,
holding every event of that session the write collected (a device sends a
session's events together, so one stored event usually carries a whole batch).

Stitching: within an app session, activity periods start at their first event
and end after ``timeout`` without one. An event that arrives out of order is
placed by its time: into the period it falls in, extending it, or joining two
periods it bridges.
"""

from __future__ import annotations

from bisect import insort
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Final
from uuid import UUID, uuid5

import msgspec
from eventsourcing.domain import Aggregate

from domain.catalog import CatalogEvent
from domain.errors import DomainError
from domain.network import Geo

__all__ = ["DEFAULT_SESSION_TIMEOUT", "EventNotInSession", "Period", "Session", "SessionHead", "TrackedEvent"]

_SESSION_NAMESPACE: Final = UUID("0b8c43f5-8f7e-4f0e-b1a4-2a4d7c9e5f30")
DEFAULT_SESSION_TIMEOUT: Final = timedelta(minutes=30)


@lru_cache(maxsize=65536)
def _session_stream_id(subject_id: UUID, app_session_id: str) -> UUID:
    # uuid5 hashes with SHA-1; every event of a session asks for the same id.
    return uuid5(_SESSION_NAMESPACE, f"{subject_id.hex}:{app_session_id}")


class EventNotInSession(DomainError):
    """An event was recorded on a session stream that is not its own."""


class TrackedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A catalog event as collected: when it happened (corrected, UTC) and when it arrived."""

    event: CatalogEvent
    occurred_at: datetime
    received_at: datetime
    late: bool
    clock_skew_seconds: float
    # Country and region from the sender's anonymized address; only with location consent.
    geo: Geo | None = None
    # Anomalies (future, late, clock_skew, burst): kept, and flagged for analysts to filter.
    flags: tuple[str, ...] = ()


class Period(msgspec.Struct, kw_only=True):
    """One stretch of activity: no gap between its events reaches the session timeout."""

    start: datetime
    end: datetime
    events: int

    def __lt__(self, other: Period) -> bool:
        return self.start < other.start


class Session(Aggregate):
    class Started(Aggregate.Created):
        subject_id: UUID
        started_at: datetime

    class EventsTracked(Aggregate.Event):
        subject_id: UUID
        events: tuple[TrackedEvent, ...]
        # Kept with the events so that replaying history stitches as it did then.
        timeout_seconds: float

        def apply(self, aggregate: Any) -> None:
            timeout = timedelta(seconds=self.timeout_seconds)
            for tracked in self.events:
                _place(aggregate.periods, tracked.occurred_at, timeout)
            aggregate.event_count += len(self.events)
            aggregate.started_at = aggregate.periods[0].start
            aggregate.last_event_at = max(aggregate.last_event_at, aggregate.periods[-1].end)

    @classmethod
    def create_id(cls, subject_id: UUID, app_session_id: str) -> UUID:
        """Derived from the subject id, so the app's session id is not a stream key."""
        return _session_stream_id(subject_id, app_session_id)

    @classmethod
    def start(cls, subject_id: UUID, app_session_id: str, at: datetime) -> Session:
        return cls._create(
            cls.Started,
            id=cls.create_id(subject_id, app_session_id),
            subject_id=subject_id,
            started_at=at,
        )

    def __init__(self, subject_id: UUID, started_at: datetime) -> None:
        self.subject_id = subject_id
        self.started_at = started_at
        self.last_event_at = started_at
        self.event_count = 0
        self.periods: list[Period] = []

    def ended_at(self, now: datetime, timeout: timedelta = DEFAULT_SESSION_TIMEOUT) -> datetime | None:
        """When the latest period ended (its last event), or None while it may still go on."""
        if not self.periods or now - self.periods[-1].end < timeout:
            return None
        return self.periods[-1].end

    def track(self, events: list[TrackedEvent], *, timeout: timedelta = DEFAULT_SESSION_TIMEOUT) -> None:
        """Record these events of this session, in one stored event."""
        _check_sessions_are_this_one(self.id, self.subject_id, events)
        self.trigger_event(
            self.EventsTracked,
            subject_id=self.subject_id,
            events=tuple(events),
            timeout_seconds=timeout.total_seconds(),
        )


def _place(periods: list[Period], at: datetime, timeout: timedelta) -> None:
    """Put one event's time into the sorted, disjoint periods, merging what it bridges."""
    if periods:
        last = periods[-1]
        if last.start <= at < last.end + timeout:
            # The usual case, events in order: it extends the latest period. It cannot touch an
            # earlier one, which ended at least ``timeout`` before the latest began.
            last.end = max(last.end, at)
            last.events += 1
            return
    touching = [p for p in periods if p.start - timeout < at < p.end + timeout]
    if not touching:
        insort(periods, Period(start=at, end=at, events=1))
        return
    merged = touching[0]
    for other in touching[1:]:
        merged.start, merged.end = min(merged.start, other.start), max(merged.end, other.end)
        merged.events += other.events
        periods.remove(other)
    merged.start, merged.end = min(merged.start, at), max(merged.end, at)
    merged.events += 1


class SessionHead:
    """Where a stored Session stream stands (id, subject, version): all that appending to it needs.

    Recording events on a session never reads its periods, so a writer need not
    replay the session's history, nor what other processes appended to it: it
    reads the stream's last version and records the next ``EventsTracked`` from
    there. Replaying the stream into a :class:`Session` gives the same aggregate
    as tracking the events on the loaded aggregate would have.
    """

    __slots__ = ("_pending", "id", "subject_id", "version")

    def __init__(self, stream_id: UUID, subject_id: UUID, version: int) -> None:
        self.id = stream_id
        self.subject_id = subject_id
        self.version = version
        self._pending: list[Session.EventsTracked] = []

    def track(self, events: list[TrackedEvent], *, timeout: timedelta = DEFAULT_SESSION_TIMEOUT) -> None:
        """Record these events of this session, in one stored event at the next version (as ``Session.track``)."""
        _check_sessions_are_this_one(self.id, self.subject_id, events)
        self.version += 1
        self._pending.append(
            Session.EventsTracked(  # type: ignore[call-arg]
                originator_id=self.id,
                originator_version=self.version,
                timestamp=Session.EventsTracked.create_timestamp(),
                subject_id=self.subject_id,
                events=tuple(events),
                timeout_seconds=timeout.total_seconds(),
            )
        )

    @property
    def pending_events(self) -> list[Session.EventsTracked]:
        return self._pending

    def collect_events(self) -> list[Session.EventsTracked]:
        collected, self._pending = self._pending, []
        return collected


def _check_sessions_are_this_one(stream_id: UUID, subject_id: UUID, events: list[TrackedEvent]) -> None:
    for app_session_id in {tracked.event.session_id for tracked in events}:  # usually one
        if Session.create_id(subject_id, app_session_id) != stream_id:
            raise EventNotInSession(f"events of session {app_session_id!r} do not belong to this stream")
