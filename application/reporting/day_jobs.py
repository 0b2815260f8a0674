"""The jobs of one day or hour: the day's platform totals (DAU, WAU, MAU: ``CloseDay.recount``),
the hour's activity counts, and closing again the days late events have changed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Final

from application.ports import Clock
from application.read_models.ports import DailyCountsView
from application.read_models.projections import DailyCountsProjection
from application.read_models.user_days import UserDaysProjection
from application.reporting.ports import RecordedReports
from application.store import AnalyticsStore
from domain.periods import Cadence, day_of, hour_of, parse_period
from domain.platform import FINAL_AFTER, PlatformDay
from domain.segments import SEGMENTS, classify

__all__ = ["HOURLY_EVENTS", "CloseDay", "HourlyActivity", "LateEvents"]


class CloseDay:
    """Daily, 02:00 UTC, for the day before: the day's anonymous platform totals, frozen.

    Totals: daily, weekly and monthly active people as of the day, people
    active for the first time, and each per-day metric summed over everyone.
    """

    name = "close-day"
    schedule = "0 2 * * *"
    cadence: Cadence = "day"
    description = "freeze the previous UTC day's platform totals (DAU, WAU, MAU, new people, activity)"

    def __init__(
        self,
        store: AnalyticsStore,
        reports: RecordedReports,
        user_days: UserDaysProjection,
        clock: Clock,
        daily_counts: DailyCountsProjection,
    ) -> None:
        self._store = store
        self._reports = reports
        self._user_days = user_days
        self._clock = clock
        self._daily_counts = daily_counts

    def run(self, period: str) -> int:
        day = date.fromisoformat(period)
        final = day_of(self._clock.now(), self._user_days.zone) >= day + FINAL_AFTER
        if final and self._reports.day(day) is not None:
            return 0  # final: no event can arrive for it any more, and nothing recounts it
        # (A final day never closed, one a stopped service missed, is closed now: its events are all in.)
        self._user_days.catch_up()  # the day's events, up to now
        totals = self.recount(day)
        self._reports.record("segments", period, {}, self.segments(day))  # a rerun replaces it
        with self._store.write_lock:
            found = self._store.find(PlatformDay.create_id(day), PlatformDay)
            if found is None:
                self._store.save(PlatformDay.close(day, totals))
                return 1
            if found.reclose(totals):
                self._store.save(found)
                return 1
        return 0

    def segments(self, day: date) -> dict[str, float]:
        """How many people are in each segment (domain.segments) on ``day``.

        Recorded as derived values of a ``segments`` report: a late event can
        move a person from one segment to another, so these counts are
        replaced by each recomputation rather than kept at their maximum.
        """
        view = self._user_days.view
        recent = view.active_days(day - timedelta(days=13), day)
        counts = dict.fromkeys(SEGMENTS, 0.0)
        for subject, first in view.first_days(date.min).items():
            if first > day:
                continue
            segment = classify({first, *recent.get(subject, set())}, day)
            if segment is not None:
                counts[segment] += 1
        return {f"segment:{name}": n for name, n in counts.items()}

    def recount(self, day: date) -> dict[str, int]:
        totals = self._user_days.day_totals(day)
        totals["daily_active_people"] = self._user_days.active_people(day, day)
        totals["weekly_active_people"] = self._user_days.active_people(day - timedelta(days=6), day)
        totals["monthly_active_people"] = self._user_days.active_people(day - timedelta(days=29), day)
        totals["new_people"] = self._user_days.new_people(day)
        # Each event name's count too, so that rebuilding daily_event_counts keeps the closed day's.
        self._daily_counts.catch_up()
        counts = self._daily_counts.view.counts()
        totals |= {f"event:{name}": n for (d, name), n in counts.items() if d == day}
        return totals


# What the hourly job reports, by the event counted (the daily-counts projection's hourly rows).
HOURLY_EVENTS: Final = (
    "activation_started",
    "activation_completed",
    "microact_created",
    "microact_shared",
    "post_created",
    "post_liked",
    "post_commented",
    "post_shared",
    "user_followed",
    "wave_joined",
    "wave_left",
    "wave_interaction",
    "wave_microact_shared",
    "wave_feedback_submitted",
)


class HourlyActivity:
    """Hourly, at :05, for the hour before: activation completion, micro-acts by category,
    community engagement and Wave participation, as counts of the hour's events."""

    name = "hourly-activity"
    schedule = "5 * * * *"
    cadence: Cadence = "hour"
    description = "the previous hour's activation completion, micro-acts by category, community and Wave activity"

    def __init__(self, reports: RecordedReports, daily_counts: DailyCountsView, catch_up: Callable[[], object]) -> None:
        self._reports = reports
        self._counts = daily_counts
        self._catch_up = catch_up

    def run(self, period: str) -> int:
        self._catch_up()
        start = hour_of(period)
        found = {name: n for (_, name), n in self._counts.hourly(start, start).items()}
        counts = {name: found.get(name, 0) for name in HOURLY_EVENTS}
        counts |= {name: n for name, n in found.items() if name.startswith("microact_created/category:")}
        derived = {}
        if counts["activation_started"]:
            derived["activation_completion_rate"] = counts["activation_completed"] / counts["activation_started"]
        return self._reports.record(self.name, period, counts, derived)


class LateEvents:
    """Hourly, at :20: days already closed that have gained events since are closed again, with their indices.

    A day needs it when its recounted events exceed the recorded total (events
    that arrived late; erasures only lower the count). The week and month
    reports that contain such a day are recomputed too, when they exist.
    """

    name = "late-events"
    schedule = "20 * * * *"
    cadence: Cadence = "hour"
    description = "recompute closed days (and their week and month) that late events have changed"
    every_period = False  # each run looks at every open day: one run makes up for any missed

    def __init__(self, reports: RecordedReports, user_days: UserDaysProjection, clock: Clock) -> None:
        self._reports = reports
        self._user_days = user_days
        self._clock = clock
        # Runs another job for a period through the runner, so the rerun is recorded; set by Jobs.
        self.rerun: Callable[[str, str], int] | None = None

    def run(self, period: str) -> int:  # noqa: ARG002 - every day still open is looked at, whatever the hour
        assert self.rerun is not None, "LateEvents runs inside Jobs"
        self._user_days.catch_up()
        today = day_of(self._clock.now(), self._user_days.zone)
        rows = 0
        for back in range(1, FINAL_AFTER.days):
            day = today - timedelta(days=back)
            closed = self._reports.day(day)
            if closed is None or self._user_days.day_totals(day).get("events", 0) <= closed.totals.get("events", 0):
                continue
            rows += self.rerun("close-day", day.isoformat())
            rows += self.rerun("daily-indices", day.isoformat())
            containing: tuple[tuple[str, Cadence], ...] = (("weekly-summary", "week"), ("monthly-summary", "month"))
            for job, cadence in containing:
                label = parse_period(cadence, day.isoformat())
                if self._reports.get(job, label) is not None:
                    rows += self.rerun(job, label)
        return rows
