"""Saved aggregates kept warm between writes, so a person's next batch needs no replay of their consent.

The store owns one (``AnalyticsStore.streams``); the ingest unit of work takes
aggregates from it (a person's Consent and User; sessions are appended to
without loading them) and gives them back after a successful save. It sits beside
the store, not in ingest, because the store builds it and nothing in the shared
modules may depend on a capability.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import cast
from uuid import UUID

from eventsourcing.domain import Aggregate, CanMutateAggregate, DomainEventProtocol, EventSourcingError

from domain.errors import SubjectErased

__all__ = ["StreamCache"]


class StreamCache:
    """Clean (saved) aggregates by id, least recently used evicted first."""

    def __init__(self, load: Callable[[UUID], Aggregate | None], maxsize: int = 50_000) -> None:
        self._load = load
        self._maxsize = maxsize
        self._clean: OrderedDict[UUID, Aggregate] = OrderedDict()
        self._absent: set[UUID] = set()

    def take(self, aggregate_id: UUID) -> Aggregate | None:
        """The aggregate, removed from the cache while a write changes it."""
        cached = self._clean.pop(aggregate_id, None)
        if cached is not None:
            return cached
        if aggregate_id in self._absent:
            return None
        return self._load(aggregate_id)

    def fill(self, histories: dict[UUID, list[DomainEventProtocol[UUID]]]) -> None:
        """Streams not cached, read whole in one query by the write about to take them.

        A stream with no events is noted as absent until the next fill, so that write
        does not ask for it again. One whose history does not start at version 1 (its
        start is archived) or does not replay is left to ``take``'s own load.
        """
        self._absent = {stream_id for stream_id, events in histories.items() if not events}
        for stream_id, events in histories.items():
            if not events or stream_id in self._clean or events[0].originator_version != 1:
                continue
            aggregate: Aggregate | None = None
            try:
                for event in events:
                    aggregate = cast(CanMutateAggregate[UUID], event).mutate(aggregate)
            except (EventSourcingError, SubjectErased):
                continue
            if aggregate is not None:
                self._clean[stream_id] = aggregate

    def keep(self, aggregates: list[Aggregate]) -> None:
        """After a successful save: these are clean again."""
        for aggregate in aggregates:
            self._clean[aggregate.id] = aggregate
            self._clean.move_to_end(aggregate.id)
        while len(self._clean) > self._maxsize:
            self._clean.popitem(last=False)

    def versions(self, candidates: Iterable[UUID]) -> dict[UUID, int]:
        """The cached version of each candidate that is in the cache."""
        get = self._clean.get  # one lookup per candidate: a uuid.UUID key is hashed in Python
        return {c: found.version for c in candidates if (found := get(c)) is not None}

    def catch_up(self, aggregate_id: UUID, stored_version: int, events: Iterable[DomainEventProtocol[UUID]]) -> None:
        """Apply what another process stored after the cached version; forget the aggregate if that fails.

        ``events`` are the stored ones after the cached version, up to ``stored_version``.
        """
        aggregate: Aggregate | None = self._clean.get(aggregate_id)
        if aggregate is None:
            return
        try:
            for event in events:
                aggregate = cast(CanMutateAggregate[UUID], event).mutate(aggregate)
        except (EventSourcingError, SubjectErased):
            aggregate = None  # a gap, or an erased subject's events
        if aggregate is None or aggregate.version != stored_version:
            # The next take() replays it from the store (archive included), as for any uncached stream.
            del self._clean[aggregate_id]
        else:
            self._clean[aggregate_id] = aggregate

    def clear(self) -> None:
        self._clean.clear()

    def __len__(self) -> int:
        return len(self._clean)
