"""The event-sourced application that holds users, consent and sessions.

Thin, in the library's own style: the use cases get aggregates from its
repository, change them and save them. Its mapper is supplied from outside
(the encrypting one in production), so this module stays free of crypto.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import cast
from uuid import UUID

from eventsourcing.application import Application, LRUCache
from eventsourcing.persistence import Mapper

from application.ports import IngestLedger

__all__ = ["AnalyticsStore"]


class AnalyticsStore(Application[UUID]):
    name = "AddValue"

    def __init__(self, env: Mapping[str, str], mapper_factory: Callable[[], Mapper[UUID]]) -> None:
        # construct_mapper() runs inside Application.__init__, so set this first.
        self._mapper_factory = mapper_factory
        self._known_users: set[UUID] = set()
        super().__init__(env=dict(env))

    def known_user(self, subject_id: UUID) -> bool:
        """True once this process has seen the subject's User stream (it is never deleted)."""
        return subject_id in self._known_users

    def remember_user(self, subject_id: UUID) -> None:
        if len(self._known_users) > 1_000_000:
            self._known_users.clear()  # bounded memory; it is only a shortcut
        self._known_users.add(subject_id)

    def forget_cached(self) -> None:
        """Drop decrypted aggregates held in memory (after an erasure)."""
        if self.repository.cache is not None:
            size = int(self.env.get(self.AGGREGATE_CACHE_MAXSIZE) or 1000)
            self.repository.cache = LRUCache(maxsize=size)

    def construct_mapper(self) -> Mapper[UUID]:
        return self._mapper_factory()

    @property
    def ledger(self) -> IngestLedger:
        """Our recorders add the ingest ledger to the library's; see adapters.recorders."""
        return cast(IngestLedger, self.recorder)
