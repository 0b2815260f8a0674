"""Missed runs: the periods each job owes, read from the record of its runs (``JobRun`` events).

A job owes every period its schedule has reached (the period its latest cron
time computes, and each one before it) that has no successful run, from the
first period it ever ran for, bounded by the metrics horizon (two years:
older days are purged, there is nothing left to compute). So a service that
was down at 02:00 owes the day it did not close, and a run that failed all
its retries stays owed until one succeeds.

A job that has never run owes only what its schedule reached since ``since``
(the start of the scheduling process; None: nothing): a new install does not
owe two years of empty periods. A job whose run does all that is due by now
(``every_period`` False: erasure-due, archive, backup, late-events) owes at
most its latest period, and nothing once a run as recent has succeeded.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from croniter import croniter
from eventsourcing.utils import get_topic

from application.reporting.ports import Job
from application.store import AnalyticsStore, log_pages
from domain.periods import Cadence, following_period, hour_of, previous_period
from domain.platform import JobRun

__all__ = ["RunIndex", "every_period", "on_schedule_clock", "owed_periods"]

_TOPICS = (get_topic(JobRun.Scheduled), get_topic(JobRun.Ran))


def every_period(job: Job) -> bool:
    """True if each period needs a run of its own; False if a run does all that is due (the latest owed only)."""
    return bool(getattr(job, "every_period", True))


def on_schedule_clock(job: Job, at: datetime, zone: ZoneInfo) -> datetime:
    """``at`` on the clock the job's cron reads: UTC, or the reporting zone's for ``local_schedule`` jobs (the
    executive reports: Mondays 09:00 local time)."""
    return at.astimezone(zone) if getattr(job, "local_schedule", False) else at


class RunIndex:
    """Per job: the periods it ever ran for, those that succeeded, its newest success; kept up to date from the log.

    Each refresh reads only the job-run events among those committed since the
    last one: up to the log's end as it was when the refresh began, so a log of
    other events is not scanned again. That needs ids committed in order, which
    the event store's insert lock gives (PostgreSQL: LOCK TABLE … IN EXCLUSIVE
    MODE on every insert, adapters.eventstore.recorders; SQLite: one writer);
    tests/integration/test_run_index_concurrency.py fails without it.
    """

    def __init__(self, store: AnalyticsStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self.position = 0  # the log is read up to here
        self.version = 0  # one more per job-run event taken in: what owed() answers may have changed
        self._runs: dict[UUID, tuple[str, str]] = {}  # JobRun stream -> (job, period)
        self.first: dict[str, str] = {}
        self.succeeded: dict[str, set[str]] = {}
        self.newest: dict[str, str] = {}  # the latest period with a success
        self.last_success: dict[str, tuple[str, datetime]] = {}  # the success that started last: (period, start)

    def refresh(self) -> RunIndex:
        with self._lock:
            recorder = self._store.recorder
            top = recorder.max_notification_id() or 0
            if top <= self.position:
                return self
            for page in log_pages(recorder.select_notifications, self.position + 1, _TOPICS, stop=top):
                for notification in page:
                    self._apply(self._store.mapper.to_domain_event(notification))
            self.position = top
        return self

    def _apply(self, event: object) -> None:
        self.version += 1
        if isinstance(event, JobRun.Scheduled):
            self._runs[event.originator_id] = (event.job, event.period)
            if event.job not in self.first or event.period < self.first[event.job]:
                self.first[event.job] = event.period
            return
        assert isinstance(event, JobRun.Ran)
        if event.status != "succeeded":
            return
        job, period = self._runs[event.originator_id]
        self.succeeded.setdefault(job, set()).add(period)
        self.newest[job] = max(period, self.newest.get(job, period))
        if job not in self.last_success or event.started_at >= self.last_success[job][1]:
            self.last_success[job] = (period, event.started_at)


def owed_periods(
    job: Job,
    index: RunIndex,
    now: datetime,
    zone: ZoneInfo,
    *,
    since: datetime | None,
    horizon: timedelta,
) -> list[str]:
    """The periods ``job`` owes at ``now``, oldest first (see the module's docstring)."""
    last_fire: datetime = croniter(job.schedule, on_schedule_clock(job, now, zone)).get_prev(datetime)
    latest = previous_period(job.cadence, last_fire, zone)
    first = index.first.get(job.name)
    if first is None:
        if (
            since is None
            or (fire := croniter(job.schedule, on_schedule_clock(job, since, zone)).get_next(datetime)) > now
        ):
            return []
        first = previous_period(job.cadence, fire, zone)
    if not every_period(job):
        newest = index.newest.get(job.name)
        return [] if newest is not None and newest >= latest else [latest]
    # The period that holds the horizon's instant: older ones are purged.
    oldest = following_period(job.cadence, previous_period(job.cadence, now - horizon, zone))
    done = index.succeeded.get(job.name, set())
    return [p for p in _labels(job.cadence, max(first, oldest), latest) if p not in done]


def _labels(cadence: Cadence, first: str, last: str) -> Iterator[str]:
    """Every label from ``first`` to ``last``; hours and days stepped by arithmetic (two years of hours is 17,520)."""
    if cadence == "hour":
        # Naive UTC: isoformat is some 20 times faster than strftime, and gives the label ("2026-11-24T13").
        at, end = hour_of(first).replace(tzinfo=None), hour_of(last).replace(tzinfo=None)
        while at <= end:
            yield at.isoformat(timespec="hours")
            at += timedelta(hours=1)
        return
    if cadence == "day":
        day, last_day = date.fromisoformat(first), date.fromisoformat(last)
        while day <= last_day:
            yield day.isoformat()
            day += timedelta(days=1)
        return
    label = first
    while label <= last:
        yield label
        label = following_period(cadence, label)
