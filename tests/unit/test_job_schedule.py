"""Scheduled jobs run when their cron time comes, for the period their schedule names."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from application.jobs import JobReport
from entrypoints.scheduler import ProjectionScheduler


class RecordingJobs:
    """The part of Jobs the scheduler uses, remembering what it was asked to run."""

    class Daily:
        name = "close-day"
        schedule = "0 2 * * *"
        description = "test"

        def period_for(self, run_at: date) -> date:
            return run_at - timedelta(days=1)

    def __init__(self) -> None:
        self.runs: list[tuple[str, date]] = []

    def all(self) -> list[RecordingJobs.Daily]:
        return [self.Daily()]

    def run(self, name: str, period: date | None = None) -> JobReport:
        assert period is not None
        self.runs.append((name, period))
        return JobReport(job=name, period=period.isoformat(), status="succeeded", rows=1, seconds=0.0)


def test_a_daily_job_runs_once_at_its_hour_for_the_day_before() -> None:
    now = [datetime(2026, 11, 25, 1, 30, tzinfo=UTC)]
    jobs = RecordingJobs()
    scheduler = ProjectionScheduler([], catch_up_every=1, rebuild_every=3600, jobs=jobs, clock=lambda: now[0])  # type: ignore[arg-type]
    assert scheduler.run_due_jobs() == []
    now[0] = datetime(2026, 11, 25, 2, 0, 5, tzinfo=UTC)
    assert scheduler.run_due_jobs() == ["close-day"]
    assert scheduler.run_due_jobs() == []  # not again the same night
    now[0] = datetime(2026, 11, 26, 2, 1, tzinfo=UTC)
    assert scheduler.run_due_jobs() == ["close-day"]
    assert jobs.runs == [("close-day", date(2026, 11, 24)), ("close-day", date(2026, 11, 25))]
