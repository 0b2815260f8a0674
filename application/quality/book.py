"""The ``data-quality`` jobs (hourly and daily) and the read side of their results.

Each run checks one period (``checks.all_checks`` over ``gathering``), records a ``QualityResult``
(domain.quality: non-personal, so erasures and rebuilds leave it) and sets the score gauges.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from application.errors import BadQuery
from application.observability.ports import NoMetrics, PipelineMetrics
from application.ports import Clock
from application.quality.checks import all_checks
from application.quality.gathering import Gathering
from application.quality.ports import QualityReader, QualityReport
from application.retention.archive import METRICS_DAYS
from application.store import AnalyticsStore
from domain.periods import Cadence, hour_of, period_end
from domain.quality import DIMENSIONS, QualityResult

__all__ = ["MAX_SERIES_DAYS", "DailyQuality", "HourlyQuality", "QualityBook"]

MAX_SERIES_DAYS: Final = 366


class QualityBook(QualityReader):
    """Records the results, and answers ``quality_on`` / ``quality_series`` from them."""

    def __init__(self, store: AnalyticsStore, clock: Clock, metrics: PipelineMetrics | None = None) -> None:
        self._store = store
        self._clock = clock
        self._metrics = metrics or NoMetrics()

    def record(self, period: str, result: list) -> int:  # type: ignore[type-arg]
        now = self._clock.now()
        with self._store.write_lock:
            found = self._store.find(QualityResult.create_id(period), QualityResult)
            if found is None:
                self._store.save(QualityResult.check(period, now, result))
            else:
                found.recheck(now, result)
                self._store.save(found)
        recorded = self.get(period)
        assert recorded is not None
        for dimension in DIMENSIONS:
            self._metrics.quality_score(dimension, recorded.scores[dimension])
        return 1

    def get(self, period: str) -> QualityReport | None:
        found = self._store.find(QualityResult.create_id(period), QualityResult)
        if found is None:
            return None
        return QualityReport(
            period=found.period, checked_at=found.checked_at.isoformat(), scores=found.scores, checks=found.results()
        )

    def quality_on(self, day: date) -> QualityReport | None:
        return self.get(day.isoformat())

    def quality_series(self, first: date, last: date) -> list[QualityReport]:
        if last < first:
            raise BadQuery("from: must not be after to")
        if (last - first).days >= MAX_SERIES_DAYS:
            raise BadQuery(f"from..to: at most {MAX_SERIES_DAYS} days")
        oldest = self._clock.now().date() - timedelta(days=METRICS_DAYS)
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        return [r for d in days if d >= oldest and (r := self.quality_on(d)) is not None]

    def latest(self) -> dict[str, float]:
        """The scores the alert signals read: the last complete hour's, else yesterday's; {} before any run."""
        found = self.latest_hour() or self.quality_on(self._clock.now().date() - timedelta(days=1))
        return dict(found.scores) if found is not None else {}

    def latest_hour(self) -> QualityReport | None:
        hour = self._clock.now().replace(minute=0, second=0, microsecond=0, tzinfo=UTC)
        for back in range(1, 4):  # the last complete hour, or the ones before if its run is pending
            found = self.get(f"{hour - timedelta(hours=back):%Y-%m-%dT%H}")
            if found is not None:
                return found
        return None


class HourlyQuality:
    """Hourly, 15 minutes past: the checks over the hour before."""

    name = "data-quality-hourly"
    schedule = "15 * * * *"
    cadence: Cadence = "hour"
    description = "data quality checks of the previous UTC hour (scores 0-100 per dimension)"

    def __init__(self, book: QualityBook, gathering: Gathering) -> None:
        self._book = book
        self._gathering = gathering

    def run(self, period: str) -> int:
        start = hour_of(period)
        return self._book.record(period, all_checks(self._gathering.observe(start, start + timedelta(hours=1))))


class DailyQuality:
    """Daily, 03:00 UTC (after close-day): the checks over the day before, with the recount of its totals."""

    name = "data-quality"
    schedule = "0 3 * * *"
    cadence: Cadence = "day"
    description = "data quality checks of the previous day, recounting its totals from the event log"

    def __init__(self, book: QualityBook, gathering: Gathering, zone: ZoneInfo) -> None:
        self._book = book
        self._gathering = gathering
        self._zone = zone

    def run(self, period: str) -> int:
        day = date.fromisoformat(period)
        end = period_end("day", period, self._zone)
        start = datetime.combine(day, datetime.min.time(), self._zone).astimezone(UTC)
        observations = self._gathering.observe(start, end.astimezone(UTC), closed_day=day)
        return self._book.record(period, all_checks(observations))
