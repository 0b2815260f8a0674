"""The aggregates a write touches: loaded once, saved together, kept warm afterwards.

Between writes, the Consent and User aggregates that were saved stay in the
store's :class:`application.stream_cache.StreamCache`. Before each write, one
query compares their cached versions with the store's; a stream another
process has moved on (another serve worker, the CLI, the consent API) is
brought up to date with just the events it lacks, so a consent changed
elsewhere counts at once.

Sessions are only appended to, and nothing a write decides depends on their
past: a write appends at each session's stored version (a
:class:`domain.session.SessionHead`, the version read in the same query),
without loading or replaying the session. A write that still races another
fails its save with IntegrityError and is retried; only the aggregates it had
changed are forgotten.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import cast
from uuid import UUID

from eventsourcing.domain import Aggregate

from application.store import Pending
from application.stream_cache import StreamCache
from domain.consent import Consent
from domain.session import Session, SessionHead, TrackedEvent
from domain.user import User

__all__ = ["UnitOfWork"]


class UnitOfWork:
    """One write: app user id → subject, and each aggregate touched, loaded once."""

    def __init__(self, cache: StreamCache, subjects: dict[UUID, UUID]) -> None:
        self._cache = cache
        self._subjects = subjects
        self._session_versions: Mapping[UUID, int] = {}
        self._loaded: dict[UUID, Aggregate | None] = {}
        self._new: list[Aggregate] = []
        self._tracking: dict[UUID, tuple[Session | SessionHead, list[TrackedEvent]]] = {}
        self._sessions: list[Session | SessionHead] = []
        # Derived stream ids (uuid5, SHA-1) asked for by every event: computed once per write.
        self._consents: dict[UUID, Consent] = {}
        self._consent_ids: dict[UUID, UUID] = {}
        self._session_ids: dict[tuple[UUID, str], UUID] = {}
        self._changed: list[Aggregate] = []

    def subject_of(self, app_user_id: UUID) -> UUID | None:
        return self._subjects.get(app_user_id)

    def add_subject(self, app_user_id: UUID, subject_id: UUID) -> UUID:
        self._subjects[app_user_id] = subject_id
        return subject_id

    def _get(self, aggregate_id: UUID) -> Aggregate | None:
        if aggregate_id not in self._loaded:
            self._loaded[aggregate_id] = self._cache.take(aggregate_id)
        return self._loaded[aggregate_id]

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

    def sessions_at(self, versions: Mapping[UUID, int]) -> None:
        """The stored version of each session stream this write may append to (a stream not named: none yet)."""
        self._session_versions = versions

    def _session(self, subject_id: UUID, app_session_id: str, at: datetime) -> Session | SessionHead:
        """The session to append to: at its stored version, or started now (``at``) when it has none."""
        stream_id = self.session_id(subject_id, app_session_id)
        version = self._session_versions.get(stream_id, 0)
        found: Session | SessionHead = (
            SessionHead(stream_id, subject_id, version) if version else Session.start(subject_id, app_session_id, at)
        )
        self._sessions.append(found)
        return found

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

        ``at``: when the session started, if this write starts it.
        """
        stream_id = self.session_id(subject_id, app_session_id)
        pending = self._tracking.get(stream_id)
        if pending is None:
            pending = self._tracking[stream_id] = (self._session(subject_id, app_session_id, at), [])
        return pending[1]

    def flush_tracking(self, timeout: timedelta) -> None:
        for session, events in self._tracking.values():
            session.track(events, timeout=timeout)
        self._tracking.clear()

    def changed(self) -> list[Pending]:
        self._changed = [a for a in self._loaded.values() if a is not None and a.pending_events]
        return [*self._changed, *(s for s in self._sessions if s.pending_events), *self._new]

    def session_versions(self) -> dict[UUID, int]:
        """Each session stream this write appended to, at the version it reached."""
        return {s.id: s.version for s in self._sessions}

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
