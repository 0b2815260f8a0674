"""The event-sourced application that holds users, consent and sessions.

Thin, in the library's own style: the use cases get aggregates, change them
and save them. Its mapper is supplied from outside (the encrypting one in
production), so this module stays free of crypto.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import cast
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Mapper

from application.ingest.unit_of_work import StreamCache
from application.ports import IngestLedger

__all__ = ["AnalyticsStore"]


class AnalyticsStore(Application[UUID]):
    name = "AddValue"

    def __init__(self, env: Mapping[str, str], mapper_factory: Callable[[], Mapper[UUID]]) -> None:
        # construct_mapper() runs inside Application.__init__, so set this first.
        self._mapper_factory = mapper_factory
        super().__init__(env=dict(env))
        # Every write of this process holds this lock: one writer per process, so
        # reads-then-save of a batch never interleave with another write.
        self.write_lock = threading.RLock()
        self.streams = StreamCache(self.repository.get)

    def construct_mapper(self) -> Mapper[UUID]:
        return self._mapper_factory()

    @property
    def ledger(self) -> IngestLedger:
        """Our recorders add the ingest ledger to the library's; see adapters.eventstore.recorders."""
        return cast(IngestLedger, self.recorder)

    def save_pending(self, aggregates: list[Aggregate], **kwargs: object) -> None:
        """``save`` for a known list of our aggregates, in one transaction.

        The library's ``save`` checks each object against runtime Protocols,
        which costs more than the rest of a large group's save; these objects
        are known to be aggregates of this application.
        """
        events = [event for aggregate in aggregates for event in aggregate.collect_events()]
        self.events.put(events, **kwargs)

    def forget_cached(self) -> None:
        """Drop decrypted aggregates held in memory (after an erasure)."""
        with self.write_lock:
            self.streams.clear()
