"""The job runner: runs each batch job for one period, idempotently, and records every run.

A job run is itself an event (``JobRun``), so its history — when, how long, how
many rows, how it ended — is replayable like everything else. Running a job
again for the same period changes nothing unless the inputs changed (late
events), in which case it records the new result.

The jobs themselves: ``day_jobs`` (close-day, hourly-activity, late-events),
``daily_indices``, ``period_summaries`` (weekly, monthly), and beside their
capability ``privacy.erasure.ErasureDue`` and ``retention.archive.ArchiveSessions``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import msgspec
from croniter import croniter
from eventsourcing.utils import get_topic

from application.observability.ports import NoMetrics, PipelineMetrics
from application.ports import Clock
from application.reporting.owed import RunIndex, on_schedule_clock, owed_periods
from application.reporting.ports import Job
from application.retention.archive import METRICS_DAYS
from application.store import AnalyticsStore
from domain.periods import UTC_ZONE, PeriodError, PeriodNotOver, check_over, parse_period, previous_period
from domain.platform import JobRun

__all__ = ["METRICS_HORIZON", "JobReport", "Jobs", "PeriodError", "PeriodNotOver", "UnknownJob"]

# How far back a job may owe periods: as long as metrics are kept (two years); older days are purged.
METRICS_HORIZON: Final = timedelta(days=METRICS_DAYS)


class UnknownJob(Exception):
    """No job has this name; the message lists the ones there are."""


class JobReport(msgspec.Struct, frozen=True, kw_only=True):
    job: str
    period: str
    status: str
    rows: int
    seconds: float
    error: str | None = None


class Jobs:
    def __init__(
        self,
        store: AnalyticsStore,
        jobs: Sequence[Job],
        clock: Clock,
        zone: ZoneInfo = UTC_ZONE,
        *,
        horizon: timedelta = METRICS_HORIZON,
        metrics: PipelineMetrics | None = None,
    ) -> None:
        self._store = store
        self._metrics = metrics or NoMetrics()
        self._jobs = {job.name: job for job in jobs}
        self._clock = clock
        self._zone = zone
        self._horizon = horizon
        self._index = RunIndex(store)
        # The last answer of owed() per job and ``since``, valid while no run is recorded and no cron time passes.
        self._owed: dict[tuple[str, datetime | None], tuple[tuple[int, datetime], list[str]]] = {}
        for job in jobs:
            if hasattr(job, "rerun"):  # late-events, the executive reports: they run other jobs through this
                job.rerun = self._rerun

    def all(self) -> list[Job]:
        return list(self._jobs.values())

    def next_due(self, name: str, now: datetime) -> datetime:
        """When the job's schedule runs it next after ``now`` (UTC)."""
        job = self._job(name)
        due: datetime = croniter(job.schedule, on_schedule_clock(job, now, self._zone)).get_next(datetime)
        return due.astimezone(now.tzinfo)

    def period_for(self, name: str, at: datetime) -> str:
        """The period a scheduled run of the job at ``at`` computes: the last complete one."""
        return previous_period(self._job(name).cadence, at, self._zone)

    def run(self, name: str, period: str | date | None = None) -> JobReport:
        """Run one job for one period (by default the one its schedule would run now); record the run.

        ``period`` is a label of the job's cadence, or a date inside the week
        or month; PeriodError says what was expected. A period that has not
        ended in the reporting zone is refused (PeriodNotOver, before anything
        runs or is recorded): its totals would be frozen partial, or empty.
        """
        job = self._job(name)
        if period is None:
            chosen = previous_period(job.cadence, self._clock.now(), self._zone)
        else:
            chosen = parse_period(job.cadence, period.isoformat() if isinstance(period, date) else period)
        check_over(job.cadence, chosen, self._clock.now(), self._zone)
        started_at, started = self._clock.now(), time.monotonic()
        rows, error = 0, None
        try:
            rows = job.run(chosen)
        except Exception as e:  # the run is recorded as failed, then the error is reported
            error = f"{type(e).__name__}: {e}"
        seconds = time.monotonic() - started
        self._record(job.name, chosen, started_at=started_at, seconds=seconds, rows=rows, error=error)
        self._measure(job.name, seconds=seconds, succeeded=error is None)
        status = "failed" if error else "succeeded"
        return JobReport(job=name, period=chosen, status=status, rows=rows, seconds=seconds, error=error)

    def _measure(self, job: str, *, seconds: float, succeeded: bool) -> None:
        finished = self._clock.now().timestamp()
        self._metrics.job_ran(job, succeeded=succeeded, seconds=seconds, finished_at=finished)

    def measure_owed(self, now: datetime | None = None) -> None:
        """Set each job's periods-owed gauge, as ``jobs status`` counts them (from the recorded runs).

        Once per scheduler pass, after its runs: owed() reads the whole run index again after any run is
        recorded (150-250 ms under load), too much to repeat after each run of a pass.
        """
        now = now or self._clock.now()
        for name in self._jobs:
            self._metrics.job_periods_owed(name, len(self.owed(name, now)))

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

    def last_successes(self) -> dict[str, tuple[str, datetime]]:
        """Per job that has ever succeeded: the period and start time of its latest successful run."""
        return dict(self._index.refresh().last_success)

    def owed(self, name: str, now: datetime | None = None, *, since: datetime | None = None) -> list[str]:
        """The periods the job owes at ``now`` (default: the clock's), oldest first: see reporting.owed.

        ``since``: when the scheduling process started; a job that never ran owes what its schedule reached since.
        """
        job, now = self._job(name), now or self._clock.now()
        index = self._index.refresh()
        key = (index.version, croniter(job.schedule, on_schedule_clock(job, now, self._zone)).get_prev(datetime))
        cached = self._owed.get((name, since))
        if cached is None or cached[0] != key:
            periods = owed_periods(job, index, now, self._zone, since=since, horizon=self._horizon)
            cached = self._owed[name, since] = (key, periods)
        return list(cached[1])

    def _rerun(self, name: str, period: str) -> int:
        return self.run(name, period).rows

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
