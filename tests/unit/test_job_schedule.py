"""Scheduled jobs run when their cron time comes, for the period their schedule names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from application.reporting.jobs import JobReport
from application.reporting.owed import owed_periods
from domain.periods import UTC_ZONE, Cadence, PeriodError, days_of, parse_period, previous_period
from entrypoints.scheduler import RETRIES, RETRY_AFTER, ProjectionScheduler


class RecordingJobs:
    """The part of Jobs the scheduler uses, remembering what it was asked to run and what succeeded."""

    class Daily:
        name = "close-day"
        schedule = "0 2 * * *"
        cadence = "day"
        description = "test"

    class Hourly:
        name = "hourly-activity"
        schedule = "5 * * * *"
        cadence = "hour"
        description = "test"

    class DueNow:
        name = "erasure-due"
        schedule = "10 * * * *"
        cadence = "hour"
        description = "test"
        every_period = False

    def __init__(self) -> None:
        self.runs: list[tuple[str, str]] = []
        # What reporting.owed reads of a RunIndex.
        self.first: dict[str, str] = {}
        self.succeeded: dict[str, set[str]] = {}
        self.newest: dict[str, str] = {}
        self.gauges: list[dict[str, int]] = []  # each measure_owed: periods owed per job

    def measure_owed(self, now: datetime) -> None:
        self.gauges.append({job.name: len(self.owed(job.name, now)) for job in self.all()})

    def all(self) -> list[Any]:
        return [self.Daily(), self.Hourly()]

    def owed(self, name: str, now: datetime, *, since: datetime | None = None) -> list[str]:
        job = next(j for j in self.all() if j.name == name)
        return owed_periods(job, self, now, UTC_ZONE, since=since, horizon=timedelta(days=730))  # type: ignore[arg-type]

    def run(self, name: str, period: str | None = None) -> JobReport:
        assert period is not None
        self.runs.append((name, period))
        return self.report(name, period, self.succeeds(name))

    def succeeds(self, name: str) -> bool:
        return True

    def report(self, name: str, period: str, succeeded: bool) -> JobReport:
        self.first[name] = min(period, self.first.get(name, period))
        if not succeeded:
            return JobReport(job=name, period=period, status="failed", rows=0, seconds=0.0, error="DB down")
        self.succeeded.setdefault(name, set()).add(period)
        self.newest[name] = max(period, self.newest.get(name, period))
        return JobReport(job=name, period=period, status="succeeded", rows=1, seconds=0.0)


def scheduler(jobs: RecordingJobs, now: list[datetime]) -> ProjectionScheduler:
    return ProjectionScheduler([], catch_up_every=1, rebuild_every=3600, jobs=jobs, clock=lambda: now[0])  # type: ignore[arg-type]


def test_a_daily_job_runs_once_at_its_hour_for_the_day_before_and_an_hourly_one_each_hour() -> None:
    now = [datetime(2026, 11, 25, 1, 30, tzinfo=UTC)]
    jobs = RecordingJobs()
    running = scheduler(jobs, now)
    assert running.run_due_jobs() == []  # a job that never ran owes nothing from before the start
    now[0] = datetime(2026, 11, 25, 2, 0, 5, tzinfo=UTC)
    assert running.run_due_jobs() == ["close-day"]
    assert running.run_due_jobs() == []  # not again the same night
    now[0] = datetime(2026, 11, 25, 2, 6, tzinfo=UTC)
    assert running.run_due_jobs() == ["hourly-activity"]
    now[0] = datetime(2026, 11, 26, 2, 6, tzinfo=UTC)  # the thread was held up for a day: every hour is made up
    assert running.run_due_jobs() == ["close-day"] + ["hourly-activity"] * 24
    assert jobs.runs[:3] == [
        ("close-day", "2026-11-24"),
        ("hourly-activity", "2026-11-25T01"),
        ("close-day", "2026-11-25"),
    ]
    hours = [period for name, period in jobs.runs[3:] if name == "hourly-activity"]
    assert hours == sorted(hours)  # oldest first
    assert (hours[0], hours[-1]) == ("2026-11-25T02", "2026-11-26T01")


def test_a_restarted_scheduler_makes_up_every_missed_day_oldest_first_and_a_due_now_job_once() -> None:
    jobs = RecordingJobs()
    jobs.all = lambda: [jobs.Daily(), jobs.DueNow()]  # type: ignore[method-assign]
    now = [datetime(2026, 11, 20, 1, 30, tzinfo=UTC)]
    first = scheduler(jobs, now)
    now[0] = datetime(2026, 11, 20, 3, 11, tzinfo=UTC)
    assert first.run_due_jobs() == ["close-day", "erasure-due"]
    now[0] = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # stopped four days, then started again
    assert scheduler(jobs, now).run_due_jobs() == ["close-day"] * 4 + ["erasure-due"]
    assert jobs.runs[2:] == [
        ("close-day", "2026-11-20"),
        ("close-day", "2026-11-21"),
        ("close-day", "2026-11-22"),
        ("close-day", "2026-11-23"),
        ("erasure-due", "2026-11-24T07"),  # its run of 08:10; one run does all that is due
    ]


@pytest.mark.parametrize(
    ("cadence", "at", "expected"),
    [
        ("hour", datetime(2026, 11, 25, 0, 5, tzinfo=UTC), "2026-11-24T23"),
        ("day", datetime(2026, 11, 1, 2, 0, tzinfo=UTC), "2026-10-31"),
        ("week", datetime(2026, 11, 23, 3, 0, tzinfo=UTC), "2026-W47"),  # a Monday: the week before
        ("week", datetime(2027, 1, 4, 3, 0, tzinfo=UTC), "2026-W53"),  # ISO years have 52 or 53 weeks
        ("month", datetime(2026, 1, 1, 4, 0, tzinfo=UTC), "2025-12"),
    ],
)
def test_a_scheduled_run_computes_the_last_complete_period(cadence: Cadence, at: datetime, expected: str) -> None:
    assert previous_period(cadence, at) == expected


@pytest.mark.parametrize(
    ("cadence", "text", "label", "first", "last"),
    [
        ("day", "2026-02-28", "2026-02-28", "2026-02-28", "2026-02-28"),
        ("week", "2026-W48", "2026-W48", "2026-11-23", "2026-11-29"),
        ("week", "2026-11-29", "2026-W48", "2026-11-23", "2026-11-29"),  # a date names its week
        ("month", "2028-02", "2028-02", "2028-02-01", "2028-02-29"),
        ("month", "2026-12-31", "2026-12", "2026-12-01", "2026-12-31"),
    ],
)
def test_periods_are_parsed_to_one_label_and_span_their_days(
    cadence: Cadence, text: str, label: str, first: str, last: str
) -> None:
    assert parse_period(cadence, text) == label
    span = days_of(cadence, label)
    assert (span[0].isoformat(), span[1].isoformat()) == (first, last)


@pytest.mark.parametrize(
    ("cadence", "text"),
    [("hour", "2026-11-24"), ("day", "2026-13-01"), ("week", "2026-W60"), ("month", "2026-00"), ("day", "yesterday")],
)
def test_a_bad_period_is_refused_with_the_form_expected(cadence: Cadence, text: str) -> None:
    with pytest.raises(PeriodError, match="write it like"):
        parse_period(cadence, text)


class FailingJobs(RecordingJobs):
    """close-day fails its first ``failures`` runs, then succeeds."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures_left = failures

    def all(self) -> list[Any]:
        return [self.Daily()]

    def succeeds(self, name: str) -> bool:
        if self.failures_left:
            self.failures_left -= 1
            return False
        return True


def test_a_failed_run_is_tried_again_for_the_same_period_until_it_succeeds() -> None:
    now = [datetime(2026, 11, 25, 1, 59, tzinfo=UTC)]
    jobs = FailingJobs(2)
    running = scheduler(jobs, now)
    now[0] = datetime(2026, 11, 25, 2, 0, 1, tzinfo=UTC)
    assert running.run_due_jobs() == ["close-day"]  # fails
    now[0] += RETRY_AFTER / 2
    assert running.run_due_jobs() == []  # not yet
    now[0] += RETRY_AFTER
    assert running.run_due_jobs() == ["close-day"]  # fails again
    now[0] += RETRY_AFTER
    assert running.run_due_jobs() == ["close-day"]  # succeeds
    now[0] += RETRY_AFTER
    assert running.run_due_jobs() == []  # nothing left to retry
    assert jobs.runs == [("close-day", "2026-11-24")] * 3


def test_a_period_that_failed_every_retry_stays_owed_and_is_not_run_again_by_that_process() -> None:
    now = [datetime(2026, 11, 25, 1, 59, tzinfo=UTC)]
    jobs = FailingJobs(100)
    running = scheduler(jobs, now)
    now[0] = datetime(2026, 11, 25, 2, 0, 1, tzinfo=UTC)
    for _ in range(RETRIES + 3):
        running.run_due_jobs()
        now[0] += RETRY_AFTER
    assert jobs.runs == [("close-day", "2026-11-24")] * (1 + RETRIES)
    assert jobs.owed("close-day", now[0]) == ["2026-11-24"]  # visible in `addvalue jobs status`
    now[0] = datetime(2026, 11, 26, 2, 0, 1, tzinfo=UTC)
    assert running.run_due_jobs() == ["close-day"]  # the next day is run; the failed one waits for a restart
    assert jobs.runs[-1] == ("close-day", "2026-11-25")
    assert jobs.owed("close-day", now[0], since=now[0]) == ["2026-11-24", "2026-11-25"]


def test_the_periods_owed_are_measured_once_per_pass_after_its_runs() -> None:
    now = [datetime(2026, 11, 25, 1, 59, tzinfo=UTC)]
    jobs = FailingJobs(1)
    running = scheduler(jobs, now)
    assert running.run_due_jobs() == []
    now[0] = datetime(2026, 11, 25, 2, 0, 1, tzinfo=UTC)
    assert running.run_due_jobs() == ["close-day"]  # fails
    assert jobs.gauges == [{"close-day": 0}, {"close-day": 1}]  # one measurement per pass, after its run
    now[0] += RETRY_AFTER
    assert running.run_due_jobs() == ["close-day"]  # the retry succeeds
    assert jobs.gauges[-1] == {"close-day": 0}
    assert len(jobs.gauges) == 3
