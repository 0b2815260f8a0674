"""What the quality checks read: the event log (stored and rejected events, job runs), the hourly counts
and the projections' positions, for one period and the lookback before it.

The log is read once per run, every page decrypted like a projection's (erased people's events are
redacted and only counted). Only the period and the LOOKBACK before it are kept in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any, Final
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec
from eventsourcing.utils import get_topic

from application.quality.checks import JobRunSeen, Observations, RejectionSeen, Seen
from application.read_models.ports import DailyCountsView
from application.reporting.ports import SubjectLookup
from application.store import AnalyticsStore
from domain.periods import Cadence, period_end
from domain.platform import JobRun
from domain.quarantine import QuarantinedEvent
from domain.redacted import RedactedEvent
from domain.session import Session, TrackedEvent

__all__ = ["LOOKBACK", "Gathering"]

# How far before the period sequences and references are followed (an activation started last week).
LOOKBACK: Final = timedelta(days=7)
_TOPICS: Final = tuple(
    get_topic(t) for t in (Session.EventsTracked, QuarantinedEvent.Kept, JobRun.Scheduled, JobRun.Ran)
)
_QUALITY_JOBS: Final = ("data-quality", "data-quality-hourly")


class Gathering:
    """Reads the observations of one period for ``checks.all_checks``."""

    def __init__(
        self,
        store: AnalyticsStore,
        daily_counts: DailyCountsView,
        people: SubjectLookup,
        *,
        lags: Callable[[], Mapping[str, int]],
        cadences: Callable[[], Mapping[str, Cadence]],
        zone: ZoneInfo,
        catch_up: Callable[[], object] = lambda: None,
    ) -> None:
        self._store = store
        self._catch_up = catch_up
        self._counts = daily_counts
        self._people = people
        self._lags = lags
        self._cadences = cadences
        self._zone = zone

    def observe(self, start: datetime, end: datetime, *, closed_day: date | None = None) -> Observations:
        self._catch_up()  # the hourly counts, and the view a closed day is recounted against, up to now
        log = _LogRead(start - LOOKBACK, start, end, self._cadences(), self._zone)
        for notification in self._store.iter_log(topics=_TOPICS):
            log.add(self._store.mapper.to_domain_event(notification))
        followed = {e.followed for e in log.events if e.followed is not None}
        unknown = frozenset(p for p in followed if self._people.subject_for(p) is None)
        recount = None
        if closed_day is not None:
            view = {name: n for (day, name), n in self._counts.counts().items() if day == closed_day}
            recount = {name: (view.get(name, 0), log.by_day.get(name, 0)) for name in view.keys() | log.by_day.keys()}
        return Observations(
            start=start,
            end=end,
            events=log.events,
            rejections=log.rejections,
            hourly=self._hourly(start, end),
            projection_lag=dict(self._lags()),
            job_runs=log.job_runs(),
            unknown_people=unknown,
            recount=recount,
            redacted=log.redacted,
        )

    def _hourly(self, start: datetime, end: datetime) -> dict[datetime, dict[str, int]]:
        hourly: dict[datetime, dict[str, int]] = {}
        for (hour, name), n in self._counts.hourly(start - timedelta(weeks=4), end).items():
            if "/" not in name:  # micro-acts by category are counted twice; their plain name once
                hourly.setdefault(hour, {})[name] = n
        return hourly


class _LogRead:
    """One pass over the log, keeping what falls in the window."""

    def __init__(
        self, since: datetime, start: datetime, end: datetime, cadences: Mapping[str, Cadence], zone: ZoneInfo
    ) -> None:
        self.since, self.start, self.end, self.zone = since, start, end, zone
        self.cadences = cadences
        self.events: list[Seen] = []
        self.rejections: list[RejectionSeen] = []
        self.by_day: dict[str, int] = {}
        self.redacted = 0
        self._runs: dict[UUID, tuple[str, str]] = {}
        self._ran: list[tuple[UUID, datetime, float, str]] = []

    def add(self, event: Any) -> None:
        if isinstance(event, RedactedEvent):
            self.redacted += 1
        elif isinstance(event, Session.EventsTracked):
            for tracked in event.events:
                self._tracked(tracked)
        elif isinstance(event, QuarantinedEvent.Kept):
            if self.start <= event.received_at < self.end:
                self.rejections.append(
                    RejectionSeen(received_at=event.received_at, messages=tuple(r.message for r in event.reasons))
                )
        elif isinstance(event, JobRun.Scheduled):
            self._runs[event.originator_id] = (event.job, event.period)
        elif isinstance(event, JobRun.Ran):
            ran = (event.originator_id, event.started_at, event.seconds, event.status)
            self._ran.append(ran)

    def _tracked(self, tracked: TrackedEvent) -> None:
        at = tracked.occurred_at
        if self.start <= at < self.end:
            name = tracked.event.name
            self.by_day[name] = self.by_day.get(name, 0) + 1
        if not self.since <= at < self.end:
            return
        event = tracked.event
        props = msgspec.structs.asdict(event.properties)
        self.events.append(
            Seen(
                person=event.user_id,
                name=event.name,
                occurred_at=at,
                received_at=tracked.received_at,
                flags=tracked.flags,
                activation=props.get("activation_id"),
                wave=props.get("wave_id"),
                round=props.get("round"),
                followed=props.get("followed_user_id"),
                fingerprint=hash((event.user_id, event.name, at, msgspec.json.encode(event.properties))),
            )
        )

    def job_runs(self) -> list[JobRunSeen]:
        runs = []
        for run_id, started_at, seconds, status in self._ran:
            job, period = self._runs.get(run_id, ("", ""))
            cadence = self.cadences.get(job)
            if cadence is None or job in _QUALITY_JOBS or not self.start <= started_at < self.end:
                continue
            runs.append(
                JobRunSeen(
                    job=job,
                    period=period,
                    period_end=period_end(cadence, period, self.zone),
                    finished_at=started_at + timedelta(seconds=seconds),
                    succeeded=status == "succeeded",
                )
            )
        return runs
