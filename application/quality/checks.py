"""The data quality checks, as pure functions of what ``gathering`` read (docs/operations.md defines each).

Each check returns the share of what it examined that passed (1.0 when nothing applied) and, when
it fails, the figures that show why. Nothing here reads storage or the clock.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Final
from uuid import UUID

import msgspec

from domain.quality import CheckResult

__all__ = [
    "CRITICAL_EVENTS",
    "JOB_GRACE",
    "LAG_TARGET_SECONDS",
    "PROJECTION_LAG_EVENTS",
    "JobRunSeen",
    "Observations",
    "RejectionSeen",
    "Seen",
    "all_checks",
]

# Event types whose flow must not stop: an hour with none where the same hour of the week had some in
# each of the last 4 weeks is a gap.
CRITICAL_EVENTS: Final = ("user_login", "activation_started", "activation_completed", "wave_joined")
LAG_TARGET_SECONDS: Final = 300.0  # event time to stored: within 5 minutes counts as timely
PROJECTION_LAG_EVENTS: Final = 1000  # a projection this many events behind (or more) is late
JOB_GRACE: Final = timedelta(hours=3)  # a job's run of a period ends within this after the period ends
_WEEKS: Final = 4


class Seen(msgspec.Struct, frozen=True, kw_only=True):
    """One stored event, reduced to what the checks need (no property values but references)."""

    person: UUID
    name: str
    occurred_at: datetime
    received_at: datetime
    flags: tuple[str, ...] = ()
    activation: str | None = None
    wave: str | None = None
    round: int | None = None
    followed: UUID | None = None
    fingerprint: int = 0  # hash of person, name, event time and properties: equal for a resent copy


class RejectionSeen(msgspec.Struct, frozen=True, kw_only=True):
    received_at: datetime
    messages: tuple[str, ...]


class JobRunSeen(msgspec.Struct, frozen=True, kw_only=True):
    job: str
    period: str
    period_end: datetime
    finished_at: datetime
    succeeded: bool


class Observations(msgspec.Struct, frozen=True, kw_only=True):
    """The period [start, end) and what was read about it; ``events`` also hold the lookback before it."""

    start: datetime
    end: datetime
    events: list[Seen]
    rejections: list[RejectionSeen]
    # Collected events per UTC hour start and event name: the period's hours and the same hours of 4 weeks before.
    hourly: dict[datetime, dict[str, int]]
    projection_lag: dict[str, int]
    job_runs: list[JobRunSeen]
    unknown_people: frozenset[UUID] = frozenset()
    # Closed days only: per event name (view count, recount from the log), and redacted events of the window.
    recount: dict[str, tuple[int, int]] | None = None
    redacted: int = 0

    def of_period(self) -> list[Seen]:
        return [e for e in self.events if self.start <= e.occurred_at < self.end]

    def hours(self) -> list[datetime]:
        hours, at = [], self.start
        while at < self.end:
            hours.append(at)
            at += timedelta(hours=1)
        return hours


def all_checks(o: Observations) -> list[CheckResult]:
    return [
        missing_fields(o),
        flow_gaps(o),
        low_volume(o),
        sequences(o),
        range_violations(o),
        timestamp_flags(o),
        event_lag(o),
        projection_lag(o),
        job_timeliness(o),
        duplicates(o),
        referential_integrity(o),
        recount(o),
    ]


def _share(bad: int, examined: int) -> float:
    return 1.0 if examined == 0 else round(1 - bad / examined, 4)


def _rejected_by(o: Observations, words: tuple[str, ...]) -> tuple[int, int]:
    """Rejected events of the period with a reason containing one of ``words``; and events submitted."""
    hits = sum(1 for r in o.rejections if any(w in m for m in r.messages for w in words))
    return hits, len(o.of_period()) + len(o.rejections)


def missing_fields(o: Observations) -> CheckResult:
    bad, submitted = _rejected_by(o, ("is required",))
    figures: dict[str, float] = {"rejected_missing_field": bad, "submitted": submitted} if bad else {}
    return CheckResult(dimension="completeness", check="missing_fields", passed=_share(bad, submitted), figures=figures)


def _same_hours_before(o: Observations, hour: datetime) -> list[dict[str, int]]:
    return [o.hourly.get(hour - timedelta(weeks=w), {}) for w in range(1, _WEEKS + 1)]


def flow_gaps(o: Observations) -> CheckResult:
    gaps: dict[str, float] = {}
    applicable = 0
    for hour in o.hours():
        before = _same_hours_before(o, hour)
        for name in CRITICAL_EVENTS:
            if all(week.get(name, 0) > 0 for week in before):
                applicable += 1
                if o.hourly.get(hour, {}).get(name, 0) == 0:
                    gaps[f"{name}@{hour:%Y-%m-%dT%H}"] = 0  # none, where each of the 4 weeks had some
    return CheckResult(dimension="completeness", check="flow_gaps", passed=_share(len(gaps), applicable), figures=gaps)


def low_volume(o: Observations) -> CheckResult:
    figures: dict[str, float] = {}
    applicable = low = 0
    for hour in o.hours():
        median = statistics.median(sum(week.values()) for week in _same_hours_before(o, hour))
        if median <= 0:
            continue
        applicable += 1
        count = sum(o.hourly.get(hour, {}).values())
        if count < median / 2:
            low += 1
            figures[f"{hour:%Y-%m-%dT%H}_events"] = count
            figures[f"{hour:%Y-%m-%dT%H}_median_4_weeks"] = median
    return CheckResult(dimension="completeness", check="low_volume", passed=_share(low, applicable), figures=figures)


def sequences(o: Observations) -> CheckResult:
    """Per person, in event-time order over the lookback.

    A completion needs an earlier start, rounds count up from 1, a leave needs an earlier join.
    """
    started: set[tuple[UUID, str]] = set()
    last_round: dict[tuple[UUID, str], int] = {}
    joined: set[tuple[UUID, str]] = set()
    bad: defaultdict[str, int] = defaultdict(int)
    examined = 0
    for e in sorted(o.events, key=lambda e: e.occurred_at):
        in_period = o.start <= e.occurred_at < o.end
        key = (e.person, e.activation or e.wave or "")
        if e.name == "activation_started":
            started.add(key)
            last_round[key] = 0
        elif e.name == "wave_joined":
            joined.add(key)
        elif e.name in ("activation_completed", "activation_round_completed", "wave_left"):
            examined += in_period
            broken = _broken(e, key, started, last_round, joined)
            bad[e.name] += in_period and broken
    total = sum(bad.values())
    figures: dict[str, float] = {f"{name}_out_of_sequence": n for name, n in bad.items() if n}
    return CheckResult(dimension="accuracy", check="sequences", passed=_share(total, examined), figures=figures)


def _broken(
    e: Seen,
    key: tuple[UUID, str],
    started: set[tuple[UUID, str]],
    last_round: dict[tuple[UUID, str], int],
    joined: set[tuple[UUID, str]],
) -> bool:
    if e.name == "activation_completed":
        return key not in started
    if e.name == "wave_left":
        broken = key not in joined
        joined.discard(key)
        return broken
    expected = last_round.get(key, 0) + 1
    last_round[key] = e.round or 0
    return key not in started or e.round != expected


def range_violations(o: Observations) -> CheckResult:
    bad, submitted = _rejected_by(o, ("between", "at most", "at least", "one of"))
    figures: dict[str, float] = {"rejected_out_of_range": bad, "submitted": submitted} if bad else {}
    return CheckResult(dimension="accuracy", check="ranges", passed=_share(bad, submitted), figures=figures)


def timestamp_flags(o: Observations) -> CheckResult:
    events = o.of_period()
    flagged: defaultdict[str, int] = defaultdict(int)
    for e in events:
        for flag in e.flags:
            flagged[flag] += 1
    bad = sum(1 for e in events if e.flags)
    figures: dict[str, float] = {**flagged, "events": len(events)} if bad else {}
    return CheckResult(dimension="accuracy", check="timestamps", passed=_share(bad, len(events)), figures=figures)


def event_lag(o: Observations) -> CheckResult:
    lags = sorted((e.received_at - e.occurred_at).total_seconds() for e in o.of_period())
    late = sum(1 for lag in lags if lag > LAG_TARGET_SECONDS)
    figures: dict[str, float] = {}
    if lags:
        figures = {"p50_seconds": _percentile(lags, 0.5), "p95_seconds": _percentile(lags, 0.95), "late": late}
    return CheckResult(
        dimension="timeliness", check="event_lag", passed=_share(late, len(lags)), figures=figures if late else {}
    )


def _percentile(ordered: list[float], q: float) -> float:
    return round(ordered[min(int(q * len(ordered)), len(ordered) - 1)], 3)


def projection_lag(o: Observations) -> CheckResult:
    behind = {name: n for name, n in o.projection_lag.items() if n >= PROJECTION_LAG_EVENTS}
    return CheckResult(
        dimension="timeliness",
        check="projection_lag",
        passed=_share(len(behind), len(o.projection_lag)),
        figures={f"{name}_events_behind": n for name, n in behind.items()},
    )


def job_timeliness(o: Observations) -> CheckResult:
    late = {
        f"{r.job}:{r.period}": round((r.finished_at - r.period_end).total_seconds(), 1)
        for r in o.job_runs
        if not r.succeeded or r.finished_at > r.period_end + JOB_GRACE
    }
    return CheckResult(dimension="timeliness", check="jobs", passed=_share(len(late), len(o.job_runs)), figures=late)


def duplicates(o: Observations) -> CheckResult:
    """Stored copies of an event (same person, name, time and properties) under a new event id."""
    events = o.of_period()
    seen: set[int] = set()
    copies = 0
    for e in sorted(o.events, key=lambda e: e.received_at):
        if e.fingerprint in seen and o.start <= e.occurred_at < o.end:
            copies += 1
        seen.add(e.fingerprint)
    figures: dict[str, float] = {"duplicates": copies, "events": len(events)} if copies else {}
    return CheckResult(dimension="consistency", check="duplicates", passed=_share(copies, len(events)), figures=figures)


def referential_integrity(o: Observations) -> CheckResult:
    """Events naming an activation, a Wave or a person the history (the lookback) never introduced."""
    activations = {e.activation for e in o.events if e.name == "activation_started"}
    waves = {e.wave for e in o.events if e.name in ("wave_joined", "wave_registered")}
    bad: defaultdict[str, int] = defaultdict(int)
    examined = 0
    for e in o.of_period():
        if e.activation is not None and e.name != "activation_started":
            examined += 1
            bad["unknown_activation"] += e.activation not in activations
        if e.wave is not None and e.name not in ("wave_joined", "wave_registered"):
            examined += 1
            bad["unknown_wave"] += e.wave not in waves
        if e.followed is not None:
            examined += 1
            bad["unknown_person"] += e.followed in o.unknown_people
    total = sum(bad.values())
    figures: dict[str, float] = {k: n for k, n in bad.items() if n}
    return CheckResult(dimension="consistency", check="references", passed=_share(total, examined), figures=figures)


def recount(o: Observations) -> CheckResult:
    """A closed day's counts in the read model against a recount from the log; erased events excused."""
    if o.recount is None:
        return CheckResult(dimension="consistency", check="recount", passed=1.0)
    differ = {name: pair for name, pair in o.recount.items() if pair[0] != pair[1]}
    unexplained = sum(abs(view - log) for view, log in differ.values()) > o.redacted
    figures: dict[str, float] = {}
    if unexplained:
        for name, (view, log) in differ.items():
            figures[f"{name}_read_model"] = view
            figures[f"{name}_event_log"] = log
    passed = _share(len(differ), len(o.recount)) if unexplained else 1.0
    return CheckResult(dimension="consistency", check="recount", passed=passed, figures=figures)
