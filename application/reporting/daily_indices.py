"""Each person's Flourish and Add-Value Index, computed once a day and kept per subject (docs/metrics.md)."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID

import msgspec

from application.privacy.ports import PersonIndicesSource
from application.read_models.ports import DayMetrics
from application.read_models.user_days import UserDaysProjection
from application.reporting.index_summaries import refresh_summary
from application.reporting.ports import IndexSummaries
from domain.indices import (
    DEFAULT_WEIGHTS,
    WINDOW_DAYS,
    AddValueIndex,
    FlourishIndex,
    IndexWeights,
    UserDay,
    add_value,
    flourish,
)
from domain.periods import Cadence

__all__ = ["DailyIndices", "PersonIndices"]


class PersonIndices(msgspec.Struct, frozen=True, kw_only=True):
    """One person's indices for one day, with the weights used, so a value can be recomputed."""

    flourish: FlourishIndex
    add_value: AddValueIndex
    weights: IndexWeights


class DailyIndices(PersonIndicesSource):
    """Daily, 02:30 UTC, for the day before: each active person's Flourish and Add-Value Index.

    Everyone with activity in the 28 days ending on the day gets a row, kept
    with its formula version and weights (docs/metrics.md). Rows are per
    subject and go when the person is erased; a rerun replaces the day's rows.
    """

    name = "daily-indices"
    schedule = "30 2 * * *"
    cadence: Cadence = "day"
    description = "each person's Flourish and Add-Value Index for the previous UTC day"

    def __init__(
        self, user_days: UserDaysProjection, summaries: IndexSummaries, weights: IndexWeights = DEFAULT_WEIGHTS
    ) -> None:
        self._user_days = user_days
        self._summaries = summaries
        self._weights = weights

    def run(self, label: str) -> int:
        period = date.fromisoformat(label)
        self._user_days.catch_up()
        first = period - timedelta(days=WINDOW_DAYS - 1)
        results: dict[UUID, bytes] = {}
        for subject in self._user_days.view.people_active(first, period):
            window = [_user_day(d) for d in self._user_days.days_of(subject, first, period)]
            computed = PersonIndices(
                flourish=flourish(window, period, self._weights),
                add_value=add_value(window, period, self._weights),
                weights=self._weights,
            )
            results[subject] = msgspec.json.encode(computed)
        self._user_days.view.put_indices(period, results)
        refresh_summary(self._summaries, period)  # now, so that no dashboard read waits for it
        return len(results)

    def of(self, subject_id: UUID, day: date) -> PersonIndices | None:
        found = self._user_days.view.indices_of(subject_id, day)
        return None if found is None else msgspec.json.decode(found, type=PersonIndices)


def _user_day(metrics: DayMetrics) -> UserDay:
    return UserDay(day=metrics.day, moods_start=metrics.moods_start, moods_end=metrics.moods_end, **metrics.counts)
