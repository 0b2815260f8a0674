"""The aggregates one batch touches, each loaded once and saved together."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from application.store import AnalyticsStore
from domain.consent import Consent
from domain.session import Session
from domain.user import User

__all__ = ["BatchAggregates"]


class BatchAggregates:
    """Loads each aggregate once per batch; ``subjects`` maps the batch's app user ids."""

    def __init__(self, store: AnalyticsStore, subjects: dict[UUID, UUID]) -> None:
        self._store = store
        self._subjects = subjects
        self._loaded: dict[UUID, Aggregate] = {}

    def subject_of(self, app_user_id: UUID) -> UUID | None:
        return self._subjects.get(app_user_id)

    def new_subject(self, app_user_id: UUID, subject_id: UUID | None) -> UUID | None:
        if subject_id is not None:
            self._subjects[app_user_id] = subject_id
        return subject_id

    def _get(self, aggregate_id: UUID) -> Aggregate | None:
        if aggregate_id not in self._loaded:
            try:
                self._loaded[aggregate_id] = self._store.repository.get(aggregate_id)
            except AggregateNotFoundError:
                return None
        return self._loaded[aggregate_id]

    def _add(self, aggregate: Aggregate) -> Aggregate:
        self._loaded[aggregate.id] = aggregate
        return aggregate

    def consent(self, subject_id: UUID) -> Consent:
        found = self._get(Consent.create_id(subject_id))
        return found if isinstance(found, Consent) else self._add(Consent.start(subject_id))  # type: ignore[return-value]

    def user(self, subject_id: UUID, at: datetime) -> User:
        found = self._get(subject_id)
        return found if isinstance(found, User) else self._add(User.first_seen(subject_id, at))  # type: ignore[return-value]

    def ensure_user(self, subject_id: UUID, at: datetime) -> None:
        """A user stream exists once anything was collected; known ones are not reloaded."""
        if subject_id in self._loaded or self._store.known_user(subject_id):
            return
        self.user(subject_id, at)
        self._store.remember_user(subject_id)

    def session(self, subject_id: UUID, app_session_id: str, at: datetime) -> Session:
        found = self._get(Session.create_id(subject_id, app_session_id))
        return found if isinstance(found, Session) else self._add(Session.start(subject_id, app_session_id, at))  # type: ignore[return-value]

    def changed(self) -> list[Aggregate]:
        return [a for a in self._loaded.values() if a.pending_events]
