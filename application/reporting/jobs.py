"""Batch jobs: each computes one period's records, idempotently, and every run is recorded.

A job run is itself an event (``JobRun``), so its history — when, how long, how
many rows, how it ended — is replayable like everything else. Running a job
again for the same period changes nothing unless the inputs changed (late
events), in which case it records the new result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Final
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec
from eventsourcing.utils import get_topic

from application.ports import Clock
from application.privacy.erasure import Erasure
from application.read_models.ports import DailyCountsView, DayMetrics
from application.read_models.projections import DailyCountsProjection
from application.read_models.user_days import UserDaysProjection
from application.reporting.index_summaries import refresh_summary
from application.reporting.ports import IndexSummaries, Job
from application.retention.archive import Archiving
from application.store import AnalyticsStore
from domain.forecast import dau_trend, forecast_dau
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
from domain.periods import UTC_ZONE, Cadence, PeriodError, day_of, days_of, hour_of, parse_period, previous_period
from domain.platform import FINAL_AFTER, JobRun, PlatformDay, PlatformReport
from domain.segments import SEGMENTS, classify

__all__ = [
    "ArchiveSessions",
    "CloseDay",
    "DailyIndices",
    "ErasureDue",
    "HourlyActivity",
    "JobReport",
    "Jobs",
    "LateEvents",
    "MonthlySummary",
    "PeriodError",
    "PersonIndices",
    "Reports",
    "UnknownJob",
    "WeeklySummary",
]


class UnknownJob(Exception):
    """No job has this name; the message lists the ones there are."""


class JobReport(msgspec.Struct, frozen=True, kw_only=True):
    job: str
    period: str
    status: str
    rows: int
    seconds: float
    error: str | None = None


class Reports:
    """The recorded results of the report jobs (non-personal events), as the API reads them."""

    def __init__(self, store: AnalyticsStore) -> None:
        self._store = store

    def get(self, job: str, period: str) -> PlatformReport | None:
        return self._store.find(PlatformReport.create_id(job, period), PlatformReport)

    def day(self, day: date) -> PlatformDay | None:
        return self._store.find(PlatformDay.create_id(day), PlatformDay)

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
        user_days: UserDaysProjection,
        clock: Clock,
        daily_counts: DailyCountsProjection | None = None,
    ) -> None:
        self._store = store
        self._user_days = user_days
        self._clock = clock
        self._daily_counts = daily_counts

    def run(self, period: str) -> int:
        day = date.fromisoformat(period)
        if day_of(self._clock.now(), self._user_days.zone) >= day + FINAL_AFTER:
            return 0  # final: no event can arrive for it any more, and nothing recounts it
        self._user_days.catch_up()  # the day's events, up to now
        totals = self.recount(day)
        Reports(self._store).record("segments", period, {}, self.segments(day))  # a rerun replaces it
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
        if self._daily_counts is not None:
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

    def __init__(self, reports: Reports, daily_counts: DailyCountsView, catch_up: Callable[[], object]) -> None:
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


COHORT_WEEKS: Final = 12  # retention cohorts reported: the signup weeks of the last 12 weeks
FORECAST_DAYS: Final = 14
TREND_DAYS: Final = 28


class WeeklySummary:
    """Mondays 03:00 UTC, for the ISO week before: WAU, Wave participation, retention cohorts, DAU trend and forecast.

    Retention: a person's cohort is the ISO week of their first collected
    event; ``cohort:<week>:week<k>`` counts the cohort's people active in the
    k-th week after it (week0 = the cohort's size). Trend and forecast are
    fitted to the closed days' DAU (domain.forecast).
    """

    name = "weekly-summary"
    schedule = "0 3 * * 1"
    cadence: Cadence = "week"
    description = "the previous ISO week's WAU, Wave participation, retention cohorts, DAU trend and 14-day forecast"

    def __init__(self, reports: Reports, user_days: UserDaysProjection) -> None:
        self._reports = reports
        self._user_days = user_days

    def run(self, period: str) -> int:
        self._user_days.catch_up()
        monday, sunday = days_of("week", period)
        view = self._user_days.view
        counts = {
            "weekly_active_people": view.active_people(monday, sunday),
            "wave_participants": view.people_with("waves_joined", monday, sunday),
        }
        for total in ("waves_joined", "wave_interactions", "wave_microacts_shared", "feedback_given"):
            counts[total] = sum(view.day_totals(monday + timedelta(days=i)).get(total, 0) for i in range(7))
        counts |= self._cohorts(monday, sunday)
        derived: dict[str, float] = {}
        history = [(d.day, d.totals.get("daily_active_people", 0)) for d in self._closed_days(sunday)]
        trend = dau_trend(history)
        if trend is not None:
            derived["dau_trend_level"] = trend.level
            derived["dau_trend_slope_per_day"] = trend.slope
        for day, value in forecast_dau(history, FORECAST_DAYS):
            derived[f"dau_forecast:{day.isoformat()}"] = value
        return self._reports.record(self.name, period, counts, derived)

    def _cohorts(self, monday: date, sunday: date) -> dict[str, int]:
        first_monday = monday - timedelta(weeks=COHORT_WEEKS - 1)
        view = self._user_days.view
        firsts = {s: d for s, d in view.first_days(first_monday).items() if d <= sunday}
        active = view.active_days(first_monday, sunday)
        counts: dict[str, int] = {}
        for subject, first in firsts.items():
            cohort = first - timedelta(days=first.weekday())
            label = parse_period("week", cohort.isoformat())
            weeks_active = {(d - cohort).days // 7 for d in active.get(subject, set()) if d >= cohort}
            for k in weeks_active | {0}:
                key = f"cohort:{label}:week{k}"
                counts[key] = counts.get(key, 0) + 1
        return counts

    def _closed_days(self, last: date) -> list[PlatformDay]:
        found = (self._reports.day(last - timedelta(days=i)) for i in range(TREND_DAYS))
        return sorted((d for d in found if d is not None), key=lambda d: d.day)


class MonthlySummary:
    """The 1st of each month, 04:00 UTC, for the month before: MAU, churn, long-term trend, executive summary.

    Churned: active in the month before this one and not in this one.
    ``executive-summary`` is recorded beside it: the month's headline figures.
    """

    name = "monthly-summary"
    schedule = "0 4 1 * *"
    cadence: Cadence = "month"
    description = "the previous month's MAU, churn, long-term trend and executive summary"

    def __init__(self, reports: Reports, user_days: UserDaysProjection) -> None:
        self._reports = reports
        self._user_days = user_days

    def run(self, period: str) -> int:
        self._user_days.catch_up()
        first, last = days_of("month", period)
        previous_first = (first - timedelta(days=1)).replace(day=1)
        view = self._user_days.view
        now_active = set(view.active_days(first, last))
        before = set(view.active_days(previous_first, first - timedelta(days=1)))
        counts = {
            "monthly_active_people": len(now_active),
            "previous_month_active_people": len(before),
            "churned_people": len(before - now_active),
            "retained_people": len(before & now_active),
            "new_people": sum(view.new_people(first + timedelta(days=i)) for i in range((last - first).days + 1)),
        }
        derived: dict[str, float] = {}
        if before:
            derived["churn_rate"] = counts["churned_people"] / len(before)
        earlier = self._reports.get(self.name, previous_first.strftime("%Y-%m"))
        if earlier is not None and earlier.counts.get("monthly_active_people"):
            derived["mau_growth"] = len(now_active) / earlier.counts["monthly_active_people"] - 1
        rows = self._reports.record(self.name, period, counts, derived)
        return rows + self._executive_summary(period, first, last, counts, derived)

    def _executive_summary(
        self, period: str, first: date, last: date, month: dict[str, int], trend: dict[str, float]
    ) -> int:
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        closed = [d for d in (self._reports.day(day) for day in days) if d is not None]
        dau = [d.totals.get("daily_active_people", 0) for d in closed]
        totals: dict[str, int] = {}
        for d in closed:
            for metric in ("microacts_created", "activations_completed", "posts_created", "waves_joined"):
                totals[metric] = totals.get(metric, 0) + d.totals.get(metric, 0)
        counts = {**totals, "monthly_active_people": month["monthly_active_people"], "new_people": month["new_people"]}
        counts["peak_daily_active_people"] = max(dau, default=0)
        counts["closed_days"] = len(closed)
        derived = dict(trend)
        if dau:
            derived["mean_daily_active_people"] = sum(dau) / len(dau)
        flourish = [msgspec.json.decode(r)["flourish"]["value"] for r in self._user_days.view.indices_on(last)]
        if flourish:
            derived["mean_flourish_index"] = sum(flourish) / len(flourish)
        return self._reports.record("executive-summary", period, counts, derived)


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

    def __init__(self, reports: Reports, close_day: CloseDay, user_days: UserDaysProjection, clock: Clock) -> None:
        self._reports = reports
        self._close_day = close_day
        self._user_days = user_days
        self._clock = clock
        self.rerun: Callable[[str, str], JobReport] | None = None  # set by Jobs

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
            rows += self.rerun("close-day", day.isoformat()).rows
            rows += self.rerun("daily-indices", day.isoformat()).rows
            containing: tuple[tuple[str, Cadence], ...] = (("weekly-summary", "week"), ("monthly-summary", "month"))
            for job, cadence in containing:
                label = parse_period(cadence, day.isoformat())
                if self._reports.get(job, label) is not None:
                    rows += self.rerun(job, label).rows
        return rows


class ErasureDue:
    """Hourly, at :10: destroy the keys of erasures whose grace period is over (application.privacy.erasure)."""

    name = "erasure-due"
    schedule = "10 * * * *"
    cadence: Cadence = "hour"
    description = "destroy the data keys and id mappings of people whose erasure grace period is over"

    def __init__(self, erasure: Erasure) -> None:
        self._erasure = erasure

    def run(self, period: str) -> int:  # noqa: ARG002 - every erasure due by now, whatever the hour
        return self._erasure.complete_due()


class ArchiveSessions:
    """Daily, 03:30 UTC: closed sessions past ADDVALUE_HOT_DAYS to the archive; metrics past two years purged."""

    name = "archive"
    schedule = "30 3 * * *"
    cadence: Cadence = "day"
    description = "move closed sessions older than ADDVALUE_HOT_DAYS to the archive; purge metrics older than 2 years"

    def __init__(self, archiving: Archiving) -> None:
        self._archiving = archiving

    def run(self, period: str) -> int:  # noqa: ARG002 - everything old enough by now, whatever the day
        return self._archiving.run().events


class Jobs:
    def __init__(self, store: AnalyticsStore, jobs: Sequence[Job], clock: Clock, zone: ZoneInfo = UTC_ZONE) -> None:
        self._store = store
        self._jobs = {job.name: job for job in jobs}
        self._clock = clock
        self._zone = zone
        for job in jobs:
            if isinstance(job, LateEvents):
                job.rerun = self.run

    def all(self) -> list[Job]:
        return list(self._jobs.values())

    def period_for(self, name: str, at: datetime) -> str:
        """The period a scheduled run of the job at ``at`` computes: the last complete one."""
        return previous_period(self._job(name).cadence, at, self._zone)

    def run(self, name: str, period: str | date | None = None) -> JobReport:
        """Run one job for one period (by default the one its schedule would run now); record the run.

        ``period`` is a label of the job's cadence, or a date inside the week
        or month; PeriodError says what was expected.
        """
        job = self._job(name)
        if period is None:
            chosen = previous_period(job.cadence, self._clock.now(), self._zone)
        else:
            chosen = parse_period(job.cadence, period.isoformat() if isinstance(period, date) else period)
        started_at, started = self._clock.now(), time.monotonic()
        rows, error = 0, None
        try:
            rows = job.run(chosen)
        except Exception as e:  # the run is recorded as failed, then the error is reported
            error = f"{type(e).__name__}: {e}"
        seconds = time.monotonic() - started
        self._record(job.name, chosen, started_at=started_at, seconds=seconds, rows=rows, error=error)
        status = "failed" if error else "succeeded"
        return JobReport(job=name, period=chosen, status=status, rows=rows, seconds=seconds, error=error)

    def history(self) -> Iterator[JobReport]:
        """Every recorded run, oldest first."""
        for notification in self._store.iter_log(topics=[get_topic(JobRun.Ran)]):
            ran = self._store.mapper.to_domain_event(notification)
            run: JobRun = self._store.repository.get(ran.originator_id, version=ran.originator_version)
            yield JobReport(
                job=run.job,
                period=run.period,
                status=ran.status,  # type: ignore[attr-defined]
                rows=ran.rows,  # type: ignore[attr-defined]
                seconds=ran.seconds,  # type: ignore[attr-defined]
                error=ran.error,  # type: ignore[attr-defined]
            )

    def _job(self, name: str) -> Job:
        if name not in self._jobs:
            raise UnknownJob(f"no job is called {name!r}; there are: {', '.join(sorted(self._jobs))}")
        return self._jobs[name]

    def _record(
        self, job: str, period: str, *, started_at: datetime, seconds: float, rows: int, error: str | None
    ) -> None:
        with self._store.write_lock:
            run = self._store.find(JobRun.create_id(job, period), JobRun) or JobRun.start(job, period)
            run.record(started_at=started_at, seconds=seconds, rows=rows, error=error)
            self._store.save(run)


class PersonIndices(msgspec.Struct, frozen=True, kw_only=True):
    """One person's indices for one day, with the weights used, so a value can be recomputed."""

    flourish: FlourishIndex
    add_value: AddValueIndex
    weights: IndexWeights


class DailyIndices:
    """Daily, 02:30 UTC, for the day before: each active person's Flourish and Add-Value Index.

    Everyone with activity in the 28 days ending on the day gets a row, kept
    with its formula version and weights (docs/metrics.md). Rows are per
    subject and go when the person is erased; a rerun replaces the day's rows.
    """

    name = "daily-indices"
    schedule = "30 2 * * *"
    cadence: Cadence = "day"
    description = "each person's Flourish and Add-Value Index for the previous UTC day"

    def __init__(self, user_days: UserDaysProjection, weights: IndexWeights = DEFAULT_WEIGHTS) -> None:
        self._user_days = user_days
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
        view = self._user_days.view
        view.put_indices(period, results)
        if isinstance(view, IndexSummaries):  # now, so that no dashboard read waits for it
            refresh_summary(view, period)
        return len(results)

    def of(self, subject_id: UUID, day: date) -> PersonIndices | None:
        found = self._user_days.view.indices_of(subject_id, day)
        return None if found is None else msgspec.json.decode(found, type=PersonIndices)


def _user_day(metrics: DayMetrics) -> UserDay:
    return UserDay(day=metrics.day, moods_start=metrics.moods_start, moods_end=metrics.moods_end, **metrics.counts)
