"""The event-sourced application that holds users, consent and sessions.

Thin, in the library's own style: the use cases get aggregates from its
repository, change them and save them. Its mapper is supplied from outside
(the encrypting one in production), so this module stays free of crypto.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import cast
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Mapper

from application.ports import IngestLedger

__all__ = ["AnalyticsStore"]


class AnalyticsStore(Application[UUID]):
    name = "AddValue"

    def __init__(self, env: Mapping[str, str], mapper_factory: Callable[[], Mapper[UUID]]) -> None:
        # construct_mapper() runs inside Application.__init__, so set this first.
        self._mapper_factory = mapper_factory
        super().__init__(env=dict(env))

    def construct_mapper(self) -> Mapper[UUID]:
        return self._mapper_factory()

    @property
    def ledger(self) -> IngestLedger:
        """Our recorders add the ingest ledger to the library's; see adapters.recorders."""
        return cast(IngestLedger, self.recorder)
