"""Batch jobs: each computes one period's records, idempotently, and every run is recorded.

A job run is itself an event (``JobRun``), so its history — when, how long, how
many rows, how it ended — is replayable like everything else. Running a job
again for the same period changes nothing unless the inputs changed (late
events), in which case it records the new result.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Protocol
from uuid import UUID

import msgspec
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.utils import get_topic

from application.ports import Clock
from application.store import AnalyticsStore
from application.user_days import DayMetrics, UserDaysProjection
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
from domain.platform import FINAL_AFTER, JobRun, PlatformDay

__all__ = ["CloseDay", "DailyIndices", "Job", "JobReport", "Jobs", "PersonIndices", "UnknownJob"]


class UnknownJob(Exception):
    """No job has this name; the message lists the ones there are."""


class Job(Protocol):
    name: str
    schedule: str  # cron expression, UTC
    description: str

    def period_for(self, run_at: date) -> date:
        """Which period a run on ``run_at`` computes (e.g. the day before)."""

    def run(self, period: date) -> int:
        """Compute the period's records; return how many rows were written."""


class JobReport(msgspec.Struct, frozen=True, kw_only=True):
    job: str
    period: str
    status: str
    rows: int
    seconds: float
    error: str | None = None


class CloseDay:
    """Daily, 02:00 UTC, for the day before: the day's anonymous platform totals, frozen.

    Totals: daily, weekly and monthly active people as of the day, people
    active for the first time, and each per-day metric summed over everyone.
    """

    name = "close-day"
    schedule = "0 2 * * *"
    description = "freeze the previous UTC day's platform totals (DAU, WAU, MAU, new people, activity)"

    def __init__(self, store: AnalyticsStore, user_days: UserDaysProjection, clock: Clock) -> None:
        self._store = store
        self._user_days = user_days
        self._clock = clock

    def period_for(self, run_at: date) -> date:
        return run_at - timedelta(days=1)

    def run(self, period: date) -> int:
        if self._clock.now().date() >= period + FINAL_AFTER:
            return 0  # final: no event can arrive for it any more, and nothing recounts it
        self._user_days.catch_up()  # the day's events, up to now
        totals = self._user_days.day_totals(period)
        totals["daily_active_people"] = self._user_days.active_people(period, period)
        totals["weekly_active_people"] = self._user_days.active_people(period - timedelta(days=6), period)
        totals["monthly_active_people"] = self._user_days.active_people(period - timedelta(days=29), period)
        totals["new_people"] = self._user_days.new_people(period)
        day: PlatformDay
        try:
            day = self._store.repository.get(PlatformDay.create_id(period))
        except AggregateNotFoundError:
            self._store.save(PlatformDay.close(period, totals))
            return 1
        if day.reclose(totals):
            self._store.save(day)
            return 1
        return 0


class Jobs:
    def __init__(self, store: AnalyticsStore, jobs: Sequence[Job], clock: Clock) -> None:
        self._store = store
        self._jobs = {job.name: job for job in jobs}
        self._clock = clock

    def all(self) -> list[Job]:
        return list(self._jobs.values())

    def run(self, name: str, period: date | None = None) -> JobReport:
        """Run one job for one period (by default the one its schedule would run now); record the run."""
        job = self._job(name)
        chosen = period or job.period_for(self._clock.now().date())
        started_at, started = self._clock.now(), time.monotonic()
        rows, error = 0, None
        try:
            rows = job.run(chosen)
        except Exception as e:  # the run is recorded as failed, then the error is reported
            error = f"{type(e).__name__}: {e}"
        seconds = time.monotonic() - started
        self._record(job.name, chosen, started_at=started_at, seconds=seconds, rows=rows, error=error)
        status = "failed" if error else "succeeded"
        return JobReport(job=name, period=chosen.isoformat(), status=status, rows=rows, seconds=seconds, error=error)

    def history(self) -> Iterator[JobReport]:
        """Every recorded run, oldest first."""
        topic = get_topic(JobRun.Ran)
        start = 1
        while True:
            page = self._store.recorder.select_notifications(start, 1000, topics=[topic])
            for notification in page:
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
            if len(page) < 1000:
                return
            start = page[-1].id + 1

    def _job(self, name: str) -> Job:
        if name not in self._jobs:
            raise UnknownJob(f"no job is called {name!r}; there are: {', '.join(sorted(self._jobs))}")
        return self._jobs[name]

    def _record(
        self, job: str, period: date, *, started_at: datetime, seconds: float, rows: int, error: str | None
    ) -> None:
        with self._store.write_lock:
            run: JobRun
            try:
                run = self._store.repository.get(JobRun.create_id(job, period.isoformat()))
            except AggregateNotFoundError:
                run = JobRun.start(job, period.isoformat())
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
    description = "each person's Flourish and Add-Value Index for the previous UTC day"

    def __init__(self, user_days: UserDaysProjection, weights: IndexWeights = DEFAULT_WEIGHTS) -> None:
        self._user_days = user_days
        self._weights = weights

    def period_for(self, run_at: date) -> date:
        return run_at - timedelta(days=1)

    def run(self, period: date) -> int:
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
        return len(results)

    def of(self, subject_id: UUID, day: date) -> PersonIndices | None:
        found = self._user_days.view.indices_of(subject_id, day)
        return None if found is None else msgspec.json.decode(found, type=PersonIndices)


def _user_day(metrics: DayMetrics) -> UserDay:
    return UserDay(day=metrics.day, moods_start=metrics.moods_start, moods_end=metrics.moods_end, **metrics.counts)
