"""Anomaly flags recorded on tracked events: future, late, clock_skew, burst."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from application.ingest.ingestion import Ingestion
from application.principals import Principal
from domain.session import Session
from tests.fakes import FakeErasureRegister, FakeGeo, FakeKeys, FixedClock, consent, event, in_memory_store

SERVICE = Principal(subject="tests", role="service")


def flags_of(events_at: list[datetime], *, sent_at: datetime | None = None) -> list[tuple[str, ...]]:
    keys, clock = FakeKeys(), FixedClock()
    store = in_memory_store(keys)
    ingestion = Ingestion(store, keys, clock, geo=FakeGeo(), erasures=FakeErasureRegister())
    user = uuid.uuid4()
    ingestion.ingest([consent(user, analytics=True, at=clock.now())], sent_at=None, principal=SERVICE)
    batch = [event("wave_joined", user, {"wave_id": "w"}, at=at) for at in events_at]
    report = ingestion.ingest(batch, sent_at=sent_at, principal=SERVICE)
    assert report.accepted == len(batch), report.rejected
    found: list[tuple[str, ...]] = []
    for notification in store.recorder.select_notifications(1, 100):
        decoded = store.mapper.to_domain_event(notification)
        if isinstance(decoded, Session.EventsTracked):
            found.extend(t.flags for t in decoded.events if t.event.name == "wave_joined")
    return found


NOW = FixedClock().now()


def test_an_ordinary_event_has_no_flags() -> None:
    assert flags_of([NOW - timedelta(minutes=3)]) == [()]


def test_an_event_a_little_ahead_of_the_server_is_flagged_future() -> None:
    assert flags_of([NOW + timedelta(minutes=2)]) == [("future",)]


def test_an_event_older_than_a_day_is_flagged_late() -> None:
    assert flags_of([NOW - timedelta(hours=25)]) == [("late",)]


def test_a_batch_corrected_by_more_than_a_minute_is_flagged_clock_skew() -> None:
    device_now = NOW + timedelta(hours=2)
    assert flags_of([device_now - timedelta(minutes=1)], sent_at=device_now) == [("clock_skew",)]
    assert flags_of([NOW], sent_at=NOW + timedelta(seconds=30)) == [()]


def test_more_than_the_burst_limit_from_one_person_in_a_minute_is_flagged_burst() -> None:
    minute = NOW.replace(second=0) - timedelta(minutes=10)
    burst_limit = 120  # docs/pipeline.md: "more than 120 valid events from one person within one UTC minute"
    many = [minute + timedelta(milliseconds=i) for i in range(burst_limit + 1)]
    assert set(flags_of(many)) == {("burst",)}
    assert set(flags_of(many[:burst_limit])) == {()}
