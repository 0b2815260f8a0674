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
from datetime import date, datetime
from zoneinfo import ZoneInfo

import msgspec
from eventsourcing.utils import get_topic

from application.observability.ports import NoMetrics, PipelineMetrics
from application.ports import Clock
from application.reporting.day_jobs import LateEvents
from application.reporting.ports import Job
from application.store import AnalyticsStore
from domain.periods import UTC_ZONE, PeriodError, PeriodNotOver, check_over, parse_period, previous_period
from domain.platform import JobRun

__all__ = ["JobReport", "Jobs", "PeriodError", "PeriodNotOver", "UnknownJob"]


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
        metrics: PipelineMetrics | None = None,
    ) -> None:
        self._store = store
        self._metrics = metrics or NoMetrics()
        # Per job, the periods whose last run here failed (the periods-owed gauge; this process's view).
        self._owed: dict[str, set[str]] = {}
        self._jobs = {job.name: job for job in jobs}
        self._clock = clock
        self._zone = zone
        for job in jobs:
            if isinstance(job, LateEvents):
                job.rerun = self._rerun

    def all(self) -> list[Job]:
        return list(self._jobs.values())

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
        self._measure(job.name, chosen, seconds=seconds, succeeded=error is None)
        status = "failed" if error else "succeeded"
        return JobReport(job=name, period=chosen, status=status, rows=rows, seconds=seconds, error=error)

    def _measure(self, job: str, period: str, *, seconds: float, succeeded: bool) -> None:
        owed = self._owed.setdefault(job, set())
        if succeeded:
            owed.discard(period)
        else:
            owed.add(period)
        finished = self._clock.now().timestamp()
        self._metrics.job_ran(job, succeeded=succeeded, seconds=seconds, finished_at=finished, periods_owed=len(owed))

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
        latest: dict[str, tuple[str, datetime]] = {}
        for notification in self._store.iter_log(topics=[get_topic(JobRun.Ran)]):
            ran = self._store.mapper.to_domain_event(notification)
            if ran.status != "succeeded":  # type: ignore[attr-defined]
                continue
            run: JobRun = self._store.repository.get(ran.originator_id, version=ran.originator_version)
            started_at: datetime = ran.started_at  # type: ignore[attr-defined]
            if run.job not in latest or started_at >= latest[run.job][1]:
                latest[run.job] = (run.period, started_at)
        return latest

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
