"""Scheduled jobs run when their cron time comes, for the period their schedule names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from application.reporting.jobs import JobReport
from domain.periods import Cadence, PeriodError, days_of, parse_period, previous_period
from entrypoints.scheduler import RETRY_AFTER, ProjectionScheduler


class RecordingJobs:
    """The part of Jobs the scheduler uses, remembering what it was asked to run."""

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

    def __init__(self) -> None:
        self.runs: list[tuple[str, str]] = []

    def all(self) -> list[RecordingJobs.Daily | RecordingJobs.Hourly]:
        return [self.Daily(), self.Hourly()]

    def period_for(self, name: str, at: datetime) -> str:
        job = next(j for j in self.all() if j.name == name)
        return previous_period(job.cadence, at)  # type: ignore[arg-type]

    def run(self, name: str, period: str | None = None) -> JobReport:
        assert period is not None
        self.runs.append((name, period))
        return JobReport(job=name, period=period, status="succeeded", rows=1, seconds=0.0)


def test_a_daily_job_runs_once_at_its_hour_for_the_day_before_and_an_hourly_one_each_hour() -> None:
    now = [datetime(2026, 11, 25, 1, 30, tzinfo=UTC)]
    jobs = RecordingJobs()
    scheduler = ProjectionScheduler([], catch_up_every=1, rebuild_every=3600, jobs=jobs, clock=lambda: now[0])  # type: ignore[arg-type]
    assert scheduler.run_due_jobs() == []
    now[0] = datetime(2026, 11, 25, 2, 0, 5, tzinfo=UTC)
    assert scheduler.run_due_jobs() == ["close-day"]
    assert scheduler.run_due_jobs() == []  # not again the same night
    now[0] = datetime(2026, 11, 25, 2, 6, tzinfo=UTC)
    assert scheduler.run_due_jobs() == ["hourly-activity"]
    now[0] = datetime(2026, 11, 26, 2, 1, tzinfo=UTC)
    assert scheduler.run_due_jobs() == ["close-day", "hourly-activity"]
    assert jobs.runs == [
        ("close-day", "2026-11-24"),
        ("hourly-activity", "2026-11-25T01"),
        ("close-day", "2026-11-25"),
        ("hourly-activity", "2026-11-25T02"),  # the run due at 03:05 the day before, late: its own period
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
    """close-day fails its first two runs of a period, then succeeds."""

    def __init__(self) -> None:
        super().__init__()
        self.failures_left = 2

    def all(self) -> list[RecordingJobs.Daily | RecordingJobs.Hourly]:
        return [self.Daily()]

    def run(self, name: str, period: str | None = None) -> JobReport:
        assert period is not None
        self.runs.append((name, period))
        if self.failures_left:
            self.failures_left -= 1
            return JobReport(job=name, period=period, status="failed", rows=0, seconds=0.0, error="DB down")
        return JobReport(job=name, period=period, status="succeeded", rows=1, seconds=0.0)


def test_a_failed_run_is_tried_again_for_the_same_period_until_it_succeeds() -> None:
    now = [datetime(2026, 11, 25, 2, 0, 1, tzinfo=UTC)]
    jobs = FailingJobs()
    scheduler = ProjectionScheduler([], catch_up_every=1, rebuild_every=3600, jobs=jobs, clock=lambda: now[0])  # type: ignore[arg-type]
    scheduler._next_runs["close-day"] = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    assert scheduler.run_due_jobs() == ["close-day"]  # fails
    now[0] += RETRY_AFTER / 2
    assert scheduler.run_due_jobs() == []  # not yet
    now[0] += RETRY_AFTER
    assert scheduler.run_due_jobs() == ["close-day"]  # fails again
    now[0] += RETRY_AFTER
    assert scheduler.run_due_jobs() == ["close-day"]  # succeeds
    now[0] += RETRY_AFTER
    assert scheduler.run_due_jobs() == []  # nothing left to retry
    assert jobs.runs == [("close-day", "2026-11-24")] * 3
