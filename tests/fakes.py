"""Small fakes for the ports (each subclasses its port), and builders of valid catalog events."""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import msgspec
from eventsourcing.persistence import IntegrityError

from adapters.encryption.mapper import EncryptingMapper
from application.ingest.ports import GeoLookup
from application.ports import Clock, SubjectKeys
from application.privacy.ports import ErasureEntry, ErasureRegister
from application.read_models.ports import (
    DailyCountsView,
    DayMetrics,
    LiveActivityView,
    LiveChanges,
    LiveSnapshot,
    UserDaysChanges,
    UserDaysView,
)
from application.reporting.ports import IndexSummaries, PersonReads, RecordedReports
from application.store import AnalyticsStore
from domain.catalog import CATEGORY_OF
from domain.network import Geo
from domain.platform import PlatformDay, PlatformReport

IN_MEMORY_ENV = {"PERSISTENCE_MODULE": "adapters.eventstore.in_memory:PopoIngestFactory"}
CONTEXT = {
    "device_type": "mobile",
    "platform": "ios",
    "app_version": "2.4.1",
    "locale": "en-US",
    "timezone": "Europe/Berlin",
}
CONSENT_ALL_OFF = {"analytics": False, "personalization": False, "marketing": False, "location": False}
K = TypeVar("K")
Span = tuple[datetime | None, datetime | None]  # the latest start and the latest end
DayCounts = Mapping[tuple[date, str], int]
HourCounts = Mapping[tuple[datetime, str], int]
Closing = tuple[DayCounts, DayCounts]  # a closing record's counts, then the counts of the events after it


class FakeKeys(SubjectKeys):
    """The ``SubjectKeys`` port over dicts."""

    def __init__(self) -> None:
        self.subjects: dict[uuid.UUID, uuid.UUID] = {}
        self.keys: dict[uuid.UUID, bytes] = {}

    def subject_for(self, app_user_id: uuid.UUID, *, create: bool) -> uuid.UUID | None:
        if app_user_id not in self.subjects and create:
            subject = uuid.uuid4()
            self.subjects[app_user_id] = subject
            self.keys[subject] = os.urandom(32)
        return self.subjects.get(app_user_id)

    def subjects_for(self, app_user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        return {u: self.subjects[u] for u in app_user_ids if u in self.subjects}

    def create_subjects(self, app_user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        return {u: s for u in app_user_ids if (s := self.subject_for(u, create=True)) is not None}

    def orphan_subject(self) -> uuid.UUID:
        subject = uuid.uuid4()
        self.keys[subject] = os.urandom(32)
        return subject

    def data_key(self, subject_id: uuid.UUID) -> bytes | None:
        return self.keys.get(subject_id)

    def data_keys(self, subject_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, bytes]:
        return {s: self.keys[s] for s in subject_ids if s in self.keys}

    def erase(self, subject_id: uuid.UUID) -> bool:
        self.subjects = {u: s for u, s in self.subjects.items() if s != subject_id}
        return self.keys.pop(subject_id, None) is not None

    def count(self) -> int:
        return len(self.keys)


class FakeErasureRegister(ErasureRegister):
    """The ``ErasureRegister`` port over a dict by app user id (the adapter keys it by a keyed hash)."""

    def __init__(self) -> None:
        self.entries: dict[uuid.UUID, ErasureEntry] = {}

    def add(
        self, app_user_id: uuid.UUID, subject_id: uuid.UUID, requested_at: datetime, due_at: datetime
    ) -> ErasureEntry:
        entry = ErasureEntry(requested_at=requested_at, due_at=due_at, completed_at=None, subject_id=subject_id)
        return self.entries.setdefault(app_user_id, entry)

    def find(self, app_user_id: uuid.UUID) -> ErasureEntry | None:
        return self.entries.get(app_user_id)

    def blocked(self, app_user_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        return {u for u in app_user_ids if u in self.entries}

    def due(self, now: datetime) -> list[uuid.UUID]:
        return [
            e.subject_id for e in self.entries.values() if e.subject_id and e.completed_at is None and e.due_at <= now
        ]

    def complete(self, subject_id: uuid.UUID, at: datetime) -> None:
        for user, entry in self.entries.items():
            if entry.subject_id == subject_id:
                self.entries[user] = msgspec.structs.replace(entry, completed_at=at, subject_id=None)

    def use_roots(self, secrets: Sequence[bytes]) -> int:
        return 0  # keyed by the user id itself: nothing to step


class FixedClock(Clock):
    """The ``Clock`` port at a time the test sets and moves."""

    def __init__(self, now: datetime | None = None) -> None:
        self.current = now or datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


class FakeGeo(GeoLookup):
    """The ``GeoLookup`` port: the same place (or none) for every address, and the addresses asked about."""

    def __init__(self, found: Geo | None = None) -> None:
        self.found = found
        self.asked: list[str] = []

    def lookup(self, anonymized_ip: str) -> Geo | None:
        self.asked.append(anonymized_ip)
        return self.found


class FakeReports(RecordedReports):
    """The ``RecordedReports`` port over dicts; ``close`` stands in for the close-day job's write."""

    def __init__(self) -> None:
        self.reports: dict[tuple[str, str], PlatformReport] = {}
        self.days: dict[date, PlatformDay] = {}

    def get(self, job: str, period: str) -> PlatformReport | None:
        return self.reports.get((job, period))

    def day(self, day: date) -> PlatformDay | None:
        return self.days.get(day)

    def closed_days(self, days: Collection[date]) -> dict[date, PlatformDay]:
        return {d: self.days[d] for d in days if d in self.days}

    def record(self, job: str, period: str, counts: dict[str, int], derived: dict[str, float]) -> int:
        report = self.reports.get((job, period))
        if report is None:
            self.reports[(job, period)] = PlatformReport.compute(job, period, counts, derived)
            return 1
        return int(report.recompute(counts, derived))

    def close(self, day: date, totals: dict[str, int]) -> None:
        self.days[day] = PlatformDay.close(day, totals)

    def reclose(self, day: date, totals: dict[str, int]) -> None:
        self.days[day].reclose(totals)


class _FakeTracked:
    """A position that, like the views' tracking row, only moves forward: a page at or before it is refused."""

    def __init__(self) -> None:
        self._position = 0

    def position(self) -> int:
        return self._position

    def _track(self, position: int) -> None:
        """Call before changing rows: a refused page changes nothing, as its transaction rolls back."""
        if position <= self._position:
            raise IntegrityError(f"Failed to record tracking for {position}")
        self._position = position


class FakeDailyCounts(_FakeTracked, DailyCountsView):
    """The ``DailyCountsView`` port over dicts."""

    def __init__(self) -> None:
        super().__init__()
        self.daily: Counter[tuple[date, str]] = Counter()
        self.hours: Counter[tuple[datetime, str]] = Counter()

    def add(self, counts: DayCounts, position: int, hourly: HourCounts, later: Sequence[Closing] = ()) -> None:
        self._track(position)
        self.daily.update(counts)
        for floors, after in later:
            for key, n in floors.items():
                self.daily[key] = max(self.daily.get(key, n), n)
            self.daily.update(after)
        self.hours.update(hourly)

    def reset(self) -> None:
        self.daily.clear()
        self.hours.clear()
        self._position = 0

    def counts(self) -> dict[tuple[date, str], int]:
        return dict(self.daily)

    def hourly(self, first: datetime, last: datetime) -> dict[tuple[datetime, str], int]:
        return {(hour, name): n for (hour, name), n in self.hours.items() if first <= hour <= last}


def _later(stored: datetime | None, new: datetime | None) -> datetime | None:
    return stored if new is None or (stored is not None and stored >= new) else new


def _merge_spans(spans: dict[K, Span], starts: dict[K, datetime], ends: dict[K, datetime]) -> None:
    """Keep the latest start and the latest end of each span (either may be missing)."""
    for key in starts.keys() | ends.keys():
        start, end = spans.get(key, (None, None))
        spans[key] = (_later(start, starts.get(key)), _later(end, ends.get(key)))


def _open_since(start: datetime | None, end: datetime | None, since: datetime) -> bool:
    """Started at or after ``since`` and not ended after the start (a join without a later leave)."""
    return start is not None and start >= since and (end is None or start > end)


class FakeLiveActivity(_FakeTracked, LiveActivityView):
    """The ``LiveActivityView`` port over sets and dicts, a row per subject as the tables have."""

    def __init__(self) -> None:
        super().__init__()
        self.active: set[tuple[date, UUID]] = set()
        self.last_seen: dict[UUID, datetime] = {}
        self.waves: dict[tuple[str, UUID], Span] = {}
        self.activations: dict[tuple[UUID, str], Span] = {}

    def apply(self, changes: LiveChanges, position: int) -> None:
        self._track(position)
        self.active |= changes.active_days
        for subject, at in changes.last_seen.items():
            self.last_seen[subject] = max(at, self.last_seen.get(subject, at))
        _merge_spans(self.waves, changes.waves_joined, changes.waves_left)
        _merge_spans(self.activations, changes.activations_started, changes.activations_ended)
        gone = changes.erased
        self.active = {(d, s) for d, s in self.active if s not in gone}
        self.last_seen = {s: at for s, at in self.last_seen.items() if s not in gone}
        self.waves = {k: v for k, v in self.waves.items() if k[1] not in gone}
        self.activations = {k: v for k, v in self.activations.items() if k[0] not in gone}

    def reset(self) -> None:
        for rows in (self.active, self.last_seen, self.waves, self.activations):
            rows.clear()
        self._position = 0

    def snapshot(self, now: datetime, *, today: date, **windows: timedelta) -> LiveSnapshot:
        """``windows``: the port's online_within, activation_window and wave_window."""
        since = {name: now - window for name, window in windows.items()}
        waves = Counter(wave for (wave, _), span in self.waves.items() if _open_since(*span, since["wave_window"]))
        return LiveSnapshot(
            as_of=now,
            daily_active_users=sum(1 for day, _ in self.active if day == today),
            online_now=sum(1 for at in self.last_seen.values() if at >= since["online_within"]),
            microacts_today=0,  # from the daily counts (LiveActivityProjection.snapshot)
            wave_participants=dict(waves),
            activations_in_progress=sum(
                1 for span in self.activations.values() if _open_since(*span, since["activation_window"])
            ),
        )


class FakeUserDays(_FakeTracked, UserDaysView, PersonReads, IndexSummaries):
    """The ``UserDaysView``, ``PersonReads`` and ``IndexSummaries`` ports over dicts, as the adapter has all three.

    Indices and their summaries are the daily-indices job's, not the projection's: ``reset`` keeps them.
    A day's ``versions`` entry moves on whenever its indices change, so a summary of older ones is not kept.
    """

    def __init__(self) -> None:
        super().__init__()
        self.rows: Counter[tuple[UUID, date, str]] = Counter()
        self.moods: list[tuple[UUID, date, str, int]] = []
        self.indices: dict[tuple[UUID, date], bytes] = {}
        self.versions: dict[date, int] = {}
        self.summaries: dict[date, tuple[int, bytes]] = {}

    def apply(self, changes: UserDaysChanges, position: int) -> None:
        self._track(position)
        self.rows.update(changes.counts)
        self.moods.extend(changes.moods)
        gone = changes.erased
        for day in {d for s, d in self.indices if s in gone}:
            self._bump(day)
        self.rows = Counter({k: n for k, n in self.rows.items() if k[0] not in gone})
        self.moods = [m for m in self.moods if m[0] not in gone]
        self.indices = {k: r for k, r in self.indices.items() if k[0] not in gone}

    def reset(self) -> None:
        self.rows.clear()
        self.moods.clear()
        self._position = 0

    def _bump(self, day: date) -> None:
        self.versions[day] = self.versions.get(day, 0) + 1

    def _events(self, first: date, last: date) -> dict[UUID, set[date]]:
        found: dict[UUID, set[date]] = {}
        for subject, day, metric in self.rows:
            if metric == "events" and first <= day <= last:
                found.setdefault(subject, set()).add(day)
        return found

    def days_of(self, subject_id: UUID, first: date, last: date) -> list[DayMetrics]:
        days: dict[date, tuple[dict[str, int], list[int], list[int]]] = {}
        for (subject, day, metric), n in self.rows.items():
            if subject == subject_id and first <= day <= last:
                days.setdefault(day, ({}, [], []))[0][metric] = n
        for subject, day, phase, mood in self.moods:
            if subject == subject_id and first <= day <= last:
                _, starts, ends = days.setdefault(day, ({}, [], []))
                (starts if phase == "start" else ends).append(mood)
        return [
            DayMetrics(day=d, counts=c, moods_start=tuple(sorted(s)), moods_end=tuple(sorted(e)))
            for d, (c, s, e) in sorted(days.items())
        ]

    def activity_of(self, subject_id: UUID, first: date, last: date) -> tuple[list[DayMetrics], list[date]]:
        active = sorted(
            d for (s, d, m), n in self.rows.items() if s == subject_id and m == "events" and d <= last and n
        )
        return self.days_of(subject_id, first, last), active

    def index_and_days(self, subject_id: UUID, day: date, first: date) -> tuple[bytes | None, int]:
        return self.indices.get((subject_id, day)), len(self.days_of(subject_id, first, day))

    def active_people(self, first: date, last: date) -> int:
        return len(self._events(first, last))

    def people_active(self, first: date, last: date) -> list[UUID]:
        return sorted(self._events(first, last))

    def active_days(self, first: date, last: date) -> dict[UUID, set[date]]:
        return self._events(first, last)

    def first_days(self, since: date) -> dict[UUID, date]:
        firsts = {s: min(days) for s, days in self._events(date.min, date.max).items()}
        return {s: d for s, d in firsts.items() if d >= since}

    def new_people(self, day: date) -> int:
        return sum(1 for first in self.first_days(day).values() if first == day)

    def people_with(self, metric: str, first: date, last: date) -> int:
        return len({s for s, d, m in self.rows if m == metric and first <= d <= last})

    def day_totals(self, day: date) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for (_, d, metric), n in self.rows.items():
            if d == day:
                totals[metric] += n
        return dict(totals)

    def put_indices(self, day: date, results: dict[UUID, bytes]) -> None:
        self.indices.update({(subject, day): result for subject, result in results.items()})
        self._bump(day)

    def indices_of(self, subject_id: UUID, day: date) -> bytes | None:
        return self.indices.get((subject_id, day))

    def indices_on(self, day: date) -> list[bytes]:
        return [result for (_, d), result in self.indices.items() if d == day]

    def indices_with_version(self, day: date) -> tuple[int, list[bytes]]:
        return self.versions.get(day, 0), self.indices_on(day)

    def put_index_summary(self, day: date, version: int, summary: bytes) -> bool:
        if self.versions.setdefault(day, version) != version:
            return False
        self.summaries[day] = (version, summary)
        return True

    def index_summaries(self, first: date, last: date) -> dict[date, bytes]:
        return {
            day: summary
            for day, (version, summary) in self.summaries.items()
            if first <= day <= last and self.versions[day] == version
        }


def in_memory_store(keys: FakeKeys) -> AnalyticsStore:
    return AnalyticsStore(IN_MEMORY_ENV, lambda: EncryptingMapper(keys))


def event(
    name: str,
    user_id: uuid.UUID,
    properties: dict[str, Any],
    *,
    at: datetime | None = None,
    event_id: uuid.UUID | None = None,
    session_id: str = "session-1",
) -> bytes:
    """A catalog event as the app would send it, encoded."""
    return msgspec.json.encode(
        {
            "event_id": str(event_id or uuid.uuid4()),
            "event_name": name,
            "event_category": CATEGORY_OF[name],
            "user_id": str(user_id),
            "session_id": session_id,
            "timestamp": (at or datetime.now(UTC)).isoformat(),
            "properties": properties,
            "context": CONTEXT,
            "privacy": {"consent_given": True, "ip_anonymized": False},
        }
    )


def consent(user_id: uuid.UUID, *, analytics: bool, at: datetime | None = None, **others: bool) -> bytes:
    return event("user_consent_update", user_id, {**CONSENT_ALL_OFF, "analytics": analytics, **others}, at=at)


def feedback(
    user_id: uuid.UUID, comment: str, *, at: datetime | None = None, event_id: uuid.UUID | None = None
) -> bytes:
    props = {"wave_id": "wave-1", "rating": 5, "comment": comment}
    return event("wave_feedback_submitted", user_id, props, at=at, event_id=event_id)
