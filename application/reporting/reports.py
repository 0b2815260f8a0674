"""The recorded results of the report jobs: one ``PlatformReport`` per job and period, one ``PlatformDay`` per day.

Both are non-personal events; the API's answers about closed periods read them here.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import cast
from uuid import UUID

from eventsourcing.domain import CanMutateAggregate

from application.reporting.ports import RecordedReports
from application.store import AnalyticsStore
from domain.platform import PlatformDay, PlatformReport

__all__ = ["Reports"]


class Reports(RecordedReports):
    """The recorded results of the report jobs (non-personal events), as the API reads them."""

    def __init__(self, store: AnalyticsStore) -> None:
        self._store = store

    def get(self, job: str, period: str) -> PlatformReport | None:
        return self._store.find(PlatformReport.create_id(job, period), PlatformReport)

    def day(self, day: date) -> PlatformDay | None:
        return self._store.find(PlatformDay.create_id(day), PlatformDay)

    def closed_days(self, days: Collection[date]) -> dict[date, PlatformDay]:
        """The closed ones of ``days``: every day's stream read whole in one query, then replayed.

        A ``PlatformDay`` stream is short (its close and any recloses) and never archived (the archive
        moves Session streams only), so the hot store holds all of it.
        """
        ids = {PlatformDay.create_id(d): d for d in days}
        histories: dict[date, list[CanMutateAggregate[UUID]]] = {}
        to_domain_event = self._store.mapper.to_domain_event
        for stored in self._store.ledger.events_after(dict.fromkeys(ids, 0)) if ids else ():
            event = cast(CanMutateAggregate[UUID], to_domain_event(stored))
            histories.setdefault(ids[cast(UUID, stored.originator_id)], []).append(event)
        found = {}
        for day, events in histories.items():
            aggregate: PlatformDay | None = None
            for event in events:
                aggregate = cast(PlatformDay, event.mutate(aggregate))
            if isinstance(aggregate, PlatformDay):
                found[day] = aggregate
        return found

    def record(self, job: str, period: str, counts: dict[str, int], derived: dict[str, float]) -> int:
        """Record (or merge into) the period's report; 1 if it changed, 0 if a rerun found the same."""
        with self._store.write_lock:
            report = self.get(job, period)
            if report is None:
                self._store.save(PlatformReport.compute(job, period, counts, derived))
                return 1
            if report.recompute(counts, derived):
                self._store.save(report)
                return 1
            return 0
