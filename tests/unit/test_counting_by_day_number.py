"""The projections count by UTC hour number and day number (ints) for speed: the same counts as by datetimes.

Each projection's page is applied to a fake view and compared with counts
made the plain way, one event at a time with ``day_of`` and the hour's start
as a datetime, in UTC and in zones whose days do not start on a UTC hour
(Asia/Kolkata +05:30, Pacific/Chatham +13:45), with instants given at any
offset, events older than the retention limit, and a closed day's record in
the middle of the page.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from application.read_models.live_activity import LiveActivityProjection
from application.read_models.projections import DailyCountsProjection
from application.read_models.user_days import METRIC_OF, UserDaysProjection
from domain.periods import UTC_ZONE, day_of, hour_number, hour_start
from domain.platform import PlatformDay
from domain.session import Session
from tests.fakes import FakeDailyCounts, FakeLiveActivity, FakeUserDays, FixedClock

ZONES = [UTC_ZONE, ZoneInfo("Asia/Kolkata"), ZoneInfo("Pacific/Chatham"), ZoneInfo("America/New_York")]
NOW = datetime(2026, 3, 30, 12, 0, tzinfo=UTC)
NAMES = ["post_liked", "microact_created", "wave_left", "activation_mood_logged", "wave_joined", "app_opened"]
PEOPLE = [uuid.uuid4() for _ in range(3)]


def _built(cls: type, attributes: dict[str, Any]) -> Any:
    """A domain event as the mapper builds one (adapters.encryption.mapper._build)."""
    event = object.__new__(cls)
    object.__setattr__(event, "__dict__", attributes)
    return event


def _tracked(at: datetime, name: str, k: int) -> SimpleNamespace:
    properties = SimpleNamespace(
        category=f"c{k % 2}", duration_seconds=k, rating=k % 5, phase="end", mood=k % 10, wave_id="w", activation_id="a"
    )
    return SimpleNamespace(occurred_at=at, event=SimpleNamespace(name=name, properties=properties))


instants = st.builds(
    lambda minutes, offset: (NOW - timedelta(minutes=minutes)).astimezone(timezone(timedelta(minutes=offset))),
    st.integers(0, 60 * 24 * 800),  # up to 800 days back: some past the metrics' retention (730 days)
    st.sampled_from([0, 0, 0, 330, -300, 825]),
)
stored_events = st.lists(
    st.tuples(st.sampled_from(PEOPLE), st.lists(st.tuples(instants, st.sampled_from(NAMES)), min_size=1, max_size=6)),
    min_size=1,
    max_size=8,
)


def _page(stored: list[Any], closed_at: int | None) -> list[Any]:
    events: list[Any] = []
    for k, (person, tracked) in enumerate(stored):
        items = tuple(_tracked(at, name, k + j) for j, (at, name) in enumerate(tracked))
        events.append(_built(Session.EventsTracked, {"subject_id": person, "events": items}))
    if closed_at is not None:
        day = (NOW - timedelta(days=3)).date()
        record = {"subject_id": uuid.uuid4(), "day": day, "totals": {"event:post_liked": 5, "dau": 1}}
        events.insert(min(closed_at, len(events)), _built(PlatformDay.Closed, record))
    return events


def _oldest() -> date:
    return (NOW - timedelta(days=730)).date()


@settings(max_examples=150, deadline=None)
@given(stored_events, st.sampled_from(ZONES), st.none() | st.integers(0, 8))
def test_daily_and_hourly_counts_are_those_counted_by_datetime(stored: Any, zone: ZoneInfo, closed_at: Any) -> None:
    view = FakeDailyCounts()
    DailyCountsProjection(None, view, zone=zone, clock=FixedClock(NOW))._apply_page(_page(stored, closed_at), 1)  # type: ignore[arg-type]
    days: Counter[tuple[date, str]] = Counter()
    hours: Counter[tuple[datetime, str]] = Counter()
    floors: dict[tuple[date, str], int] = {}
    segments: list[Counter[tuple[date, str]]] = [days]
    for event in _page(stored, closed_at):
        if isinstance(event, PlatformDay.Closed):
            floors = {(event.day, "post_liked"): 5}
            segments.append(Counter())
            continue
        for tracked in event.events:
            at, name = tracked.occurred_at, tracked.event.name
            if at.astimezone(UTC).date() < _oldest():
                continue
            segments[-1][(day_of(at, zone), name)] += 1
            hour = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
            hours[(hour, name)] += 1
            if name == "microact_created":
                hours[(hour, f"microact_created/category:{tracked.event.properties.category}")] += 1
    for key, n in floors.items():
        days[key] = max(days.get(key, n), n)
    for later in segments[1:]:
        days.update(later)
    assert {k: n for k, n in view.daily.items() if n} == {k: n for k, n in days.items() if n}
    assert dict(view.hours) == dict(hours)


@settings(max_examples=150, deadline=None)
@given(stored_events, st.sampled_from(ZONES))
def test_per_person_days_are_those_counted_by_datetime(stored: Any, zone: ZoneInfo) -> None:
    view = FakeUserDays()
    UserDaysProjection(None, view, zone=zone, clock=FixedClock(NOW))._apply_page(_page(stored, None), 1)  # type: ignore[arg-type]
    expected: Counter[tuple[uuid.UUID, date, str]] = Counter()
    moods = []
    for person, tracked in stored:
        for at, name in tracked:
            if at.astimezone(UTC).date() < _oldest():
                continue
            day = day_of(at, zone)
            expected[(person, day, "events")] += 1
            if name in METRIC_OF:
                expected[(person, day, METRIC_OF[name])] += 1
            if name == "activation_mood_logged":
                moods.append((person, day))
    counted = {k: n for k, n in view.rows.items() if k[2] in ("events", *METRIC_OF.values())}
    assert counted == expected
    assert sorted((s, d) for s, d, _, _ in view.moods) == sorted(moods)


@settings(max_examples=150, deadline=None)
@given(stored_events, st.sampled_from(ZONES))
def test_active_days_are_those_of_day_of(stored: Any, zone: ZoneInfo) -> None:
    view = FakeLiveActivity()
    projection = LiveActivityProjection(None, view, daily_counts=FakeDailyCounts(), zone=zone)  # type: ignore[arg-type]
    projection._apply_page(_page(stored, None), 1)
    expected = {(day_of(at, zone), person) for person, tracked in stored for at, _ in tracked}
    assert view.active == expected


def test_hour_numbers_round_trip_and_order_as_instants() -> None:
    at = datetime(2026, 3, 29, 1, 59, 59, tzinfo=UTC)
    assert hour_start(hour_number(at)) == datetime(2026, 3, 29, 1, tzinfo=UTC)
    kolkata = at.astimezone(ZoneInfo("Asia/Kolkata"))  # 07:29:59 local, the same instant
    assert hour_number(kolkata) == hour_number(at)
    assert hour_number(at + timedelta(seconds=1)) == hour_number(at) + 1
    assert hour_number(at) // 24 == at.toordinal()
