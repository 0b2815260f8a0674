"""A write's events of each session, appended where each session stands at commit (a ``LateAppends``).

A write collects each session's accepted events here, without loading the
session: recording on a session never reads its past. The event store asks
for the stored events once it holds its write lock, with each session's last
version read then (archived versions included): a session with none is
started, the others get one ``Session.EventsTracked`` at the next version.
Two processes writing the same sessions (batches of many people reach any
serve worker) so never race for a version, never read each other's events,
and neither waits for the other except during the commit itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent

from domain.session import Session, SessionHead, TrackedEvent

__all__ = ["SessionAppends"]


class _Pending:
    __slots__ = ("app_session_id", "events", "started_at", "subject_id")

    def __init__(self, subject_id: UUID, app_session_id: str, started_at: datetime) -> None:
        self.subject_id = subject_id
        self.app_session_id = app_session_id
        self.started_at = started_at
        self.events: list[TrackedEvent] = []


class SessionAppends:
    """One write's session events, by stream; mapped (encoded, encrypted) once their versions are known."""

    __slots__ = ("_mapper", "_sessions", "_timeout")

    def __init__(self, mapper: Mapper[UUID], timeout: timedelta) -> None:
        self._mapper = mapper
        self._timeout = timeout
        self._sessions: dict[UUID, _Pending] = {}

    def events_of(self, stream_id: UUID, subject_id: UUID, app_session_id: str, at: datetime) -> list[TrackedEvent]:
        """The list collecting this session's events (append to it); ``at``: its start, if it has none stored."""
        pending = self._sessions.get(stream_id)
        if pending is None:
            pending = self._sessions[stream_id] = _Pending(subject_id, app_session_id, at)
        return pending.events

    def __bool__(self) -> bool:
        return bool(self._sessions)

    @property
    def stream_ids(self) -> Sequence[UUID]:
        return list(self._sessions)

    def stored(self, versions: Sequence[int]) -> list[StoredEvent]:
        to_stored = self._mapper.to_stored_event
        found: list[StoredEvent] = []
        for (stream_id, pending), version in zip(self._sessions.items(), versions, strict=True):
            session: Session | SessionHead = (
                SessionHead(stream_id, pending.subject_id, version)
                if version
                else Session.start(pending.subject_id, pending.app_session_id, pending.started_at)
            )
            session.track(pending.events, timeout=self._timeout)
            found += map(to_stored, session.collect_events())
        return found
