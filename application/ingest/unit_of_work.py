"""The aggregates a write touches: loaded once, saved together, kept warm afterwards.

Between writes, the Consent and User aggregates that were saved stay in the
store's :class:`application.stream_cache.StreamCache`. Before each write, one
query compares their cached versions with the store's; a stream another
process has moved on (another serve worker, the CLI, the consent API) is
brought up to date with just the events it lacks, so a consent changed
elsewhere counts at once. A write that still races another fails its save
with IntegrityError and is retried; only the aggregates it had changed are
forgotten.

Sessions are only appended to: their events are collected apart
(:class:`application.ingest.session_appends.SessionAppends`) and appended
where each session stands at commit, without loading it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, cast
from uuid import UUID

from eventsourcing.domain import Aggregate

from application.ingest.session_appends import SessionAppends
from application.stream_cache import StreamCache
from domain.consent import Consent
from domain.session import Session, TrackedEvent
from domain.user import User

__all__ = ["UnitOfWork"]

_NOT_LOADED: Final = object()


class UnitOfWork:
    """One write: app user id → subject, and each aggregate touched, loaded once."""

    def __init__(self, cache: StreamCache, subjects: dict[UUID, UUID], sessions: SessionAppends) -> None:
        self._cache = cache
        self._subjects = subjects
        self._sessions = sessions
        self._loaded: dict[UUID, Aggregate | None] = {}
        self._new: list[Aggregate] = []
        # Derived stream ids (uuid5, SHA-1) asked for by every event: computed once per write.
        self._consents: dict[UUID, Consent] = {}
        self._consent_ids: dict[UUID, UUID] = {}
        self._session_ids: dict[tuple[UUID, str], UUID] = {}
        self._changed: list[Aggregate] = []

    def subject_of(self, app_user_id: UUID) -> UUID | None:
        return self._subjects.get(app_user_id)

    def _get(self, aggregate_id: UUID) -> Aggregate | None:
        # One lookup when loaded already: a uuid.UUID key is hashed in Python, every time.
        found = self._loaded.get(aggregate_id, _NOT_LOADED)
        if found is _NOT_LOADED:
            found = self._loaded[aggregate_id] = self._cache.take(aggregate_id)
        return found  # type: ignore[return-value]

    def _add(self, aggregate: Aggregate) -> Aggregate:
        self._loaded[aggregate.id] = aggregate
        return aggregate

    def consent_id(self, subject_id: UUID) -> UUID:
        found = self._consent_ids.get(subject_id)
        if found is None:
            found = self._consent_ids[subject_id] = Consent.create_id(subject_id)
        return found

    def consent(self, subject_id: UUID) -> Consent:
        consent = self._consents.get(subject_id)
        if consent is None:
            found = self._get(self.consent_id(subject_id))
            consent = found if isinstance(found, Consent) else cast(Consent, self._add(Consent.start(subject_id)))
            self._consents[subject_id] = consent
        return consent

    def user(self, subject_id: UUID, at: datetime) -> User:
        found = self._get(subject_id)
        return found if isinstance(found, User) else self._add(User.first_seen(subject_id, at))  # type: ignore[return-value]

    def add_new(self, aggregate: Aggregate) -> None:
        """A new aggregate to save with this write (not kept in the cache afterwards)."""
        self._new.append(aggregate)

    def session_id(self, subject_id: UUID, app_session_id: str) -> UUID:
        key = (subject_id, app_session_id)
        found = self._session_ids.get(key)
        if found is None:
            found = self._session_ids[key] = Session.create_id(subject_id, app_session_id)
        return found

    def tracked_events(self, subject_id: UUID, app_session_id: str, at: datetime) -> list[TrackedEvent]:
        """The list collecting this session's events in this write (append to it); all are recorded together.

        ``at``: when the session started, if it has no events stored yet.
        """
        return self._sessions.events_of(self.session_id(subject_id, app_session_id), subject_id, app_session_id, at)

    def changed(self) -> list[Aggregate]:
        self._changed = [a for a in self._loaded.values() if a is not None and a.pending_events]
        return [*self._changed, *self._new]

    def committed(self) -> None:
        """The save succeeded: everything loaded is clean and may be reused."""
        self._cache.keep([a for a in self._loaded.values() if a is not None])

    def abandoned(self) -> None:
        """The save failed: what it changed may be ahead of the store and is forgotten.

        The rest of what it loaded is as stored and goes back to the cache; the
        next write checks it against the store like any cached stream.
        """
        changed = {id(a) for a in self._changed}
        self._cache.keep([a for a in self._loaded.values() if a is not None and id(a) not in changed])
