"""The aggregates a write touches: loaded once, saved together, kept warm afterwards.

Between writes, aggregates that were saved stay in a :class:`StreamCache`, so
the next event of a session needs no replay. The cache is owned by the
process's single writer (see ``AnalyticsStore.write_lock``). Before each write,
one query compares the cached versions of the write's ``Consent`` streams with
the store's, and drops any that another process has moved on (a consent
changed elsewhere must count at once, and causes no write conflict here).
Other streams are appended to, so a stale one fails the save with
IntegrityError; the cache is then cleared and the write retried.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from domain.consent import Consent
from domain.session import Session, TrackedEvent
from domain.user import User

__all__ = ["StreamCache", "UnitOfWork"]


class StreamCache:
    """Clean (saved) aggregates by id, least recently used evicted first."""

    def __init__(self, load: object, maxsize: int = 50_000) -> None:
        self._load = load
        self._maxsize = maxsize
        self._clean: OrderedDict[UUID, Aggregate] = OrderedDict()

    def take(self, aggregate_id: UUID) -> Aggregate | None:
        """The aggregate, removed from the cache while a write changes it."""
        cached = self._clean.pop(aggregate_id, None)
        if cached is not None:
            return cached
        try:
            return self._load(aggregate_id)  # type: ignore[operator,no-any-return]
        except AggregateNotFoundError:
            return None

    def keep(self, aggregates: list[Aggregate]) -> None:
        """After a successful save: these are clean again."""
        for aggregate in aggregates:
            self._clean[aggregate.id] = aggregate
            self._clean.move_to_end(aggregate.id)
        while len(self._clean) > self._maxsize:
            self._clean.popitem(last=False)

    def drop_stale(self, stored_versions: dict[UUID, int]) -> int:
        """Forget cached aggregates that the store has moved past (another process wrote them)."""
        stale = [i for i, version in stored_versions.items() if i in self._clean and self._clean[i].version != version]
        for aggregate_id in stale:
            del self._clean[aggregate_id]
        return len(stale)

    def cached_ids(self, candidates: list[UUID]) -> list[UUID]:
        return [c for c in candidates if c in self._clean]

    def clear(self) -> None:
        self._clean.clear()

    def __len__(self) -> int:
        return len(self._clean)


class UnitOfWork:
    """One write: app user id → subject, and each aggregate touched, loaded once."""

    def __init__(self, cache: StreamCache, subjects: dict[UUID, UUID]) -> None:
        self._cache = cache
        self._subjects = subjects
        self._loaded: dict[UUID, Aggregate | None] = {}
        self._new: list[Aggregate] = []
        self._tracking: dict[UUID, tuple[Session, list[TrackedEvent]]] = {}

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

    def consent(self, subject_id: UUID) -> Consent:
        found = self._get(Consent.create_id(subject_id))
        return found if isinstance(found, Consent) else self._add(Consent.start(subject_id))  # type: ignore[return-value]

    def user(self, subject_id: UUID, at: datetime) -> User:
        found = self._get(subject_id)
        return found if isinstance(found, User) else self._add(User.first_seen(subject_id, at))  # type: ignore[return-value]

    def session(self, subject_id: UUID, app_session_id: str, at: datetime) -> Session:
        found = self._get(Session.create_id(subject_id, app_session_id))
        if isinstance(found, Session):
            return found
        return self._add(Session.start(subject_id, app_session_id, at))  # type: ignore[return-value]

    def add_new(self, aggregate: Aggregate) -> None:
        """A new aggregate to save with this write (not kept in the cache afterwards)."""
        self._new.append(aggregate)

    def track(self, subject_id: UUID, app_session_id: str, tracked: TrackedEvent) -> None:
        """Collect an event for its session; all of a session's are recorded together."""
        stream_id = Session.create_id(subject_id, app_session_id)
        if stream_id not in self._tracking:
            self._tracking[stream_id] = (self.session(subject_id, app_session_id, tracked.occurred_at), [])
        self._tracking[stream_id][1].append(tracked)

    def flush_tracking(self, timeout: timedelta) -> None:
        for session, events in self._tracking.values():
            session.track(events, timeout=timeout)
        self._tracking.clear()

    def changed(self) -> list[Aggregate]:
        return [*(a for a in self._loaded.values() if a is not None and a.pending_events), *self._new]

    def committed(self) -> None:
        """The save succeeded: everything loaded is clean and may be reused."""
        self._cache.keep([a for a in self._loaded.values() if a is not None])

    def abandoned(self) -> None:
        """The save failed: loaded aggregates may be ahead of the store; trust nothing cached."""
        self._cache.clear()
