"""The ``Session`` aggregate: one stream per app session, carrying its tracked events."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any, Final
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.catalog import CatalogEvent
from domain.errors import DomainError

__all__ = ["EventNotInSession", "Session"]

_SESSION_NAMESPACE: Final = UUID("0b8c43f5-8f7e-4f0e-b1a4-2a4d7c9e5f30")


@lru_cache(maxsize=65536)
def _session_stream_id(subject_id: UUID, app_session_id: str) -> UUID:
    # uuid5 hashes with SHA-1; every event of a session asks for the same id.
    return uuid5(_SESSION_NAMESPACE, f"{subject_id.hex}:{app_session_id}")


class EventNotInSession(DomainError):
    """An event was recorded on a session stream that is not its own."""


class Session(Aggregate):
    class Started(Aggregate.Created):
        subject_id: UUID
        started_at: datetime

    class EventTracked(Aggregate.Event):
        subject_id: UUID
        event: CatalogEvent
        occurred_at: datetime
        received_at: datetime
        late: bool
        clock_skew_seconds: float

        def apply(self, aggregate: Any) -> None:
            aggregate.event_count += 1
            aggregate.started_at = min(aggregate.started_at, self.occurred_at)
            aggregate.last_event_at = max(aggregate.last_event_at, self.occurred_at)

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

    def track(
        self,
        event: CatalogEvent,
        *,
        occurred_at: datetime,
        received_at: datetime,
        late: bool,
        clock_skew_seconds: float,
    ) -> None:
        _check_event_belongs_here(self, event)
        self.trigger_event(
            self.EventTracked,
            subject_id=self.subject_id,
            event=event,
            occurred_at=occurred_at,
            received_at=received_at,
            late=late,
            clock_skew_seconds=clock_skew_seconds,
        )


def _check_event_belongs_here(session: Session, event: CatalogEvent) -> None:
    if Session.create_id(session.subject_id, event.session_id) != session.id:
        raise EventNotInSession(f"event {event.event_id} belongs to session {event.session_id!r}, not to this stream")
