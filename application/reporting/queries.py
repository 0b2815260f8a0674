"""Use cases of the Analytics API: each metric answer, read from the read models and recorded reports.

Every answer says how far it can be trusted (``confidence``):

- ``final``: a closed period that no event can change any more (older than
  the catalog's 30-day bound; see domain.platform.FINAL_AFTER);
- ``closed``: a closed period, recomputed only if late events arrive;
- ``provisional``: computed now from the live read models (today, or a
  period whose job has not run yet).

Per-person answers take the app's user id; it is turned into the internal
subject here and never leaves this layer. Nothing here decides who may ask:
that is the policy (application.api_access.policy), applied by the HTTP layer.

Closed periods are kept in memory for a while (``AnswerCache``, and each
closed day's totals here): a ``final`` one for an hour, a ``closed`` one for a
minute, so a day reclosed by late events shows within a minute (clients may
keep a closed answer for five: ``Cache-Control: max-age=300``). Real-time
counters are read at most every half second (``live_max_age``); while one
request reads them, the others answer with the previous reading (at most 2 s
old, ``live_stale_limit``) instead of waiting. The WebSocket poller reads them
as often, and waits for a reading under way. Per-person answers are never
kept: an erasure must count at once (only a person's subject id is kept, and
the erasure register is asked at every read).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, Final, Literal
from uuid import UUID

import msgspec

from application.errors import BadQuery, NotFound
from application.ports import Clock
from application.read_models.live_activity import LiveActivityProjection
from application.read_models.ports import LiveSnapshot
from application.read_models.user_days import UserDaysProjection
from application.reporting.anomalies import anomaly_points
from application.reporting.answers import (
    CLOSED_KEPT_SECONDS,
    FINAL_KEPT_SECONDS,
    MAX_RANGE_DAYS,
    Answer,
    AnswerCache,
    Confidence,
    Kept,
    check_range,
    kept_for,
)
from application.reporting.daily_indices import PersonIndices
from application.reporting.group_size import DEFAULT_MIN_GROUP_SIZE, GroupSizeRule
from application.reporting.hourly import hourly_points
from application.reporting.index_summaries import refresh_summary
from application.reporting.ports import IndexSummaries, PersonReads, RecordedReports, SubjectLookup
from application.reporting.realtime import LIVE_MAX_AGE_SECONDS, LIVE_STALE_LIMIT_SECONDS, LiveReadings
from domain.indices import FORMULA_VERSION, streak
from domain.periods import day_of, days_of, parse_period
from domain.platform import FINAL_AFTER
from domain.segments import classify

__all__ = [
    "CLOSED_KEPT_SECONDS",
    "FINAL_KEPT_SECONDS",
    "MAX_RANGE_DAYS",
    "Analytics",
    "Answer",
    "AnswerCache",
    "Confidence",
]

# A person's subject never changes while they are not erased, and an erased person stays refused for good (the
# erasure register is asked on every read): a subject found can be kept as long as the process lives. Bounded in
# number, not in time: with 10,000 people each serve worker saw a person about once a minute in bench/api.py, so
# a minute's bound made most reads look the subject up again (two round trips).
SUBJECT_KEPT_SECONDS: Final = 24 * 3600.0
SUBJECTS_KEPT: Final = 100_000
_NO_DATA: Final = "no data is held for this user (never seen, or erased)"


class Analytics:
    def __init__(
        self,
        *,
        keys: SubjectLookup,
        reports: RecordedReports,
        user_days: UserDaysProjection,
        person_reads: PersonReads,
        summaries: IndexSummaries,
        live: LiveActivityProjection,
        clock: Clock,
        live_max_age: float = LIVE_MAX_AGE_SECONDS,
        live_stale_limit: float = LIVE_STALE_LIMIT_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    ) -> None:
        self._keys = keys
        self._groups = GroupSizeRule(min_group_size)
        self._reports = reports
        self._user_days = user_days
        self._person_reads = person_reads
        self._summaries = summaries
        self._clock = clock
        self._monotonic = monotonic
        self._closed_totals: Kept[date, dict[str, int]] = Kept(max_entries=2 * MAX_RANGE_DAYS, clock=monotonic)
        self._subjects: Kept[UUID, UUID] = Kept(max_entries=SUBJECTS_KEPT, clock=monotonic)
        self._realtime = LiveReadings(
            live, clock, max_age=live_max_age, stale_limit=live_stale_limit, monotonic=monotonic
        )

    def today(self) -> date:
        """Today in the reporting time zone (UTC unless configured)."""
        return day_of(self._clock.now(), self._user_days.zone)

    # --- per person -------------------------------------------------------------------------------

    def flourish_index(self, user_id: UUID, day: date) -> Answer:
        return self._index(user_id, day, "flourish_index")

    def add_value_index(self, user_id: UUID, day: date) -> Answer:
        return self._index(user_id, day, "add_value_index")

    def _index(self, user_id: UUID, day: date, metric: str) -> Answer:
        subject = self._subject(user_id)
        window = day - timedelta(days=27)
        raw, data_points = self._person_reads.index_and_days(subject, day, window)
        found = None if raw is None else msgspec.json.decode(raw, type=PersonIndices)
        if found is None:
            raise NotFound(f"no {metric} for this user on {day.isoformat()}: the daily job has not computed it")
        index = found.flourish if metric == "flourish_index" else found.add_value
        breakdown = {k: v for k, v in msgspec.structs.asdict(index).items() if k not in ("value", "formula_version")}
        return Answer(
            data={"metric": metric, "value": index.value, "date": day.isoformat(), "breakdown": breakdown},
            calculated_at=self._clock.now(),
            data_points=data_points,
            confidence=self._confidence_of_day(day),
            formula_version=index.formula_version,
        )

    def user_activity(self, user_id: UUID, first: date, last: date) -> Answer:
        check_range(first, last)
        subject = self._subject(user_id)
        # Streak and segment look back past ``first``: they depend on every active day up to ``last``.
        days, ever = self._person_reads.activity_of(subject, first, last)
        active = [d.day for d in days if d.counts.get("events", 0)]
        return Answer(
            data={
                "metric": "user_activity",
                "from": first.isoformat(),
                "to": last.isoformat(),
                "value": len(active),
                "current_streak": streak(ever, last),
                "segment": classify(ever, last),
                "days": [{"date": d.day.isoformat(), **d.counts} for d in days],
            },
            calculated_at=self._clock.now(),
            data_points=len(days),
            confidence="provisional" if last >= self.today() else "closed",
        )

    def _subject(self, user_id: UUID) -> UUID:
        """The person's subject, kept once found (SUBJECT_KEPT_SECONDS); whether they are erased is asked every
        time, so an erasure counts at once."""
        kept = self._subjects.get(user_id)
        if kept is not None:
            if self._keys.erased(user_id):
                raise NotFound(_NO_DATA)
            return kept
        subject = self._keys.subject_for(user_id, create=False)  # asks both
        if subject is None:
            raise NotFound(_NO_DATA)
        self._subjects.put(user_id, subject, SUBJECT_KEPT_SECONDS)
        return subject

    # --- platform -----------------------------------------------------------------------------------

    def platform_summary(self, day: date) -> Answer:
        totals = self._totals(day)
        if totals is None:
            raise NotFound(f"{day.isoformat()} is not closed yet: its totals are computed at 02:00 UTC the day after")
        return Answer(
            data={
                "metric": "platform_summary",
                "date": day.isoformat(),
                "value": totals.get("daily_active_people", 0),
                "breakdown": dict(sorted(totals.items())),
            },
            calculated_at=self._clock.now(),
            data_points=totals.get("events", 0),
            confidence=self._confidence_of_day(day),
        )

    def active_people_series(self, first: date, last: date) -> Answer:
        """DAU, WAU (7 days to the day) and MAU (30 days to the day) of each closed day in the range."""
        series = self._closed_days(first, last)
        return self._series(
            "active_people",
            first,
            last,
            [
                {
                    "date": d.isoformat(),
                    "dau": totals.get("daily_active_people", 0),
                    "wau": totals.get("weekly_active_people", 0),
                    "mau": totals.get("monthly_active_people", 0),
                    "new_people": totals.get("new_people", 0),
                }
                for d, totals in series
            ],
        )

    def hourly_activity(self, day: date) -> Answer:
        """The hourly-activity reports of the UTC hours of ``day`` (reporting.hourly)."""
        points = hourly_points(self._reports, self._groups, day)
        answer = self._series("hourly_activity", day, day, points)
        return msgspec.structs.replace(answer, data={**answer.data, "date": day.isoformat()})

    def anomalies(self, first: date, last: date) -> Answer:
        """The metric anomalies recorded for the closed days in [first, last] (reporting.anomalies)."""
        check_range(first, last)
        return self._series("metric_anomalies", first, last, anomaly_points(self._reports, first, last))

    def wave_participation(self, first: date, last: date) -> Answer:
        metrics = ("waves_joined", "wave_interactions", "wave_microacts_shared", "feedback_given", "wave_seconds")
        series = self._closed_days(first, last)
        points = [{"date": d.isoformat(), **{m: totals.get(m, 0) for m in metrics}} for d, totals in series]
        return self._series("wave_participation", first, last, points)

    def index_dashboard(self, metric: Literal["flourish", "add_value"], first: date, last: date) -> Answer:
        """Per day: how many people have the index, their mean and quartiles (no one's own value).

        Mean and quartiles of a day with fewer people than the minimum group size are null (group_size).
        """
        check_range(first, last)
        points = []
        kept = self._summaries.index_summaries(first, last)
        day = first
        while day <= last:
            summary = kept.get(day)
            if summary is not None:
                point = msgspec.json.decode(summary)[metric]
            else:
                point = refresh_summary(self._summaries, day)[metric]  # the job had not, or an erasure changed the day
            if point is not None:
                points.append(self._groups.index_point(day.isoformat(), point))
            day += timedelta(days=1)
        answer = self._series(f"{metric}_index", first, last, points)
        return msgspec.structs.replace(answer, formula_version=FORMULA_VERSION)

    def segments(self, day: date) -> Answer:
        """How many people are new, active, returning, at risk and dormant on a closed day."""
        report = self._reports.get("segments", day.isoformat())
        if report is None:
            raise NotFound(f"{day.isoformat()} is not closed yet: segments are counted when the day is closed")
        counts = {k.removeprefix("segment:"): int(v) for k, v in report.derived.items()}
        breakdown, withheld = self._groups.segments(counts)
        return Answer(
            data={
                "metric": "segments",
                "date": day.isoformat(),
                "value": sum(counts.values()),
                "breakdown": breakdown,
                "withheld": withheld,
            },
            calculated_at=self._clock.now(),
            data_points=sum(counts.values()),
            confidence=self._confidence_of_day(day),
        )

    def retention_cohorts(self, week: str) -> Answer:
        label = self._parse("week", week)
        report = self._reports.get("weekly-summary", label)
        if report is None:
            raise NotFound(f"the weekly summary of {label} has not been computed (Mondays 03:00 UTC)")
        cohorts: dict[str, dict[str, int]] = {}
        for key, n in report.counts.items():
            if key.startswith("cohort:"):
                _, cohort, offset = key.split(":")
                cohorts.setdefault(cohort, {})[offset] = n
        table: list[dict[str, Any]] = []
        for cohort, weeks in sorted(cohorts.items()):
            span = 1 + max(int(offset.removeprefix("week")) for offset in weeks)
            active = [weeks.get(f"week{k}", 0) for k in range(span)]
            table.append({"cohort": cohort, "size": weeks.get("week0", 0), "active_by_week": active})
        _, sunday = days_of("week", label)
        return Answer(
            data={"metric": "retention_cohorts", "week": label, "value": len(table), "cohorts": table},
            calculated_at=self._clock.now(),
            data_points=sum(weeks.get("week0", 0) for weeks in cohorts.values()),
            confidence=self._confidence_of_day(sunday),
        )

    def weekly_summary(self, week: str) -> Answer:
        return self._report("weekly-summary", "week", week)

    def monthly_summary(self, month: str) -> Answer:
        return self._report("monthly-summary", "month", month)

    def executive_summary(self, month: str | None) -> Answer:
        label = month or self._latest_month_with("executive-summary")
        return self._report("executive-summary", "month", label)

    def _latest_month_with(self, job: str) -> str:
        today = self.today()
        month_start = today.replace(day=1)
        for _ in range(24):
            month_start = (month_start - timedelta(days=1)).replace(day=1)
            label = month_start.strftime("%Y-%m")
            if self._reports.get(job, label) is not None:
                return label
        raise NotFound(f"no {job} has been computed in the last 24 months (the 1st of each month, 04:00 UTC)")

    def _report(self, job: str, cadence: Literal["week", "month"], text: str) -> Answer:
        label = self._parse(cadence, text)
        report = self._reports.get(job, label)
        if report is None:
            raise NotFound(f"the {job} of {label} has not been computed yet")
        _, last = days_of(cadence, label)
        figures, withheld = self._groups.summary(report.counts, report.derived)
        return Answer(
            data={"metric": job.replace("-", "_"), "period": label, "breakdown": figures, "withheld": withheld},
            calculated_at=self._clock.now(),
            data_points=len(report.counts),
            confidence=self._confidence_of_day(last),
        )

    # --- real time ---------------------------------------------------------------------------------

    def fresh_realtime(self) -> LiveSnapshot | None:
        """The counters without waiting, if a recent enough reading is held (reporting.realtime)."""
        return self._realtime.fresh()

    def realtime(self, *, wait_for_fresh: bool = False) -> LiveSnapshot:
        """The counters, read at most every ``live_max_age`` seconds (reporting.realtime)."""
        return self._realtime.read(wait_for_fresh=wait_for_fresh)

    # --- helpers -----------------------------------------------------------------------------------

    def _closed_days(self, first: date, last: date) -> list[tuple[date, dict[str, int]]]:
        """The closed days of the range with their totals: the kept ones, and the rest read in one query.

        Only closed days are kept, so a day not closed at one view is asked for again at the next and
        shows as soon as close-day closes it.
        """
        check_range(first, last)
        wanted = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        kept = {d: totals for d in wanted if (totals := self._closed_totals.get(d)) is not None}
        missing = [d for d in wanted if d not in kept]
        for day, closed in (self._reports.closed_days(missing) if missing else {}).items():
            kept[day] = self._keep(day, closed.totals)
        return [(d, kept[d]) for d in wanted if d in kept]

    def _totals(self, day: date) -> dict[str, int] | None:
        """A closed day's totals (None before it is closed), kept as AnswerCache keeps answers."""
        kept = self._closed_totals.get(day)
        if kept is not None:
            return kept
        closed = self._reports.day(day)
        return None if closed is None else self._keep(day, closed.totals)

    def _keep(self, day: date, totals: dict[str, int]) -> dict[str, int]:
        kept = dict(totals)
        self._closed_totals.put(day, kept, kept_for(self._confidence_of_day(day)))
        return kept

    def _series(self, metric: str, first: date, last: date, points: list[dict[str, Any]]) -> Answer:
        today = self.today()
        return Answer(
            data={"metric": metric, "from": first.isoformat(), "to": last.isoformat(), "series": points},
            calculated_at=self._clock.now(),
            data_points=len(points),
            confidence="provisional" if last >= today - timedelta(days=1) else self._confidence_of_day(last),
        )

    def _confidence_of_day(self, day: date) -> Confidence:
        """Of a closed day: final once no event can change it any more."""
        return "final" if self.today() >= day + FINAL_AFTER else "closed"

    @staticmethod
    def _parse(cadence: Literal["week", "month"], text: str) -> str:
        try:
            return parse_period(cadence, text)
        except ValueError as e:
            raise BadQuery(str(e)) from None
