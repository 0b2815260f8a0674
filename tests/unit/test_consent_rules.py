"""Consent rules of the catalog, through the ingestion use case on the in-memory store."""

from __future__ import annotations

import uuid
from datetime import timedelta, timezone

import pytest
from eventsourcing.application import AggregateNotFoundError

from application.ingest.ingestion import Ingestion
from application.principals import Principal
from application.store import AnalyticsStore
from domain.consent import Consent, ConsentChoice
from domain.session import Session
from tests.fakes import FakeErasureRegister, FakeGeo, FakeKeys, FixedClock, consent, feedback, in_memory_store

SERVICE = Principal(subject="tests", role="service")


@pytest.fixture
def keys() -> FakeKeys:
    return FakeKeys()


@pytest.fixture
def store(keys: FakeKeys) -> AnalyticsStore:
    return in_memory_store(keys)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def ingestion(store: AnalyticsStore, keys: FakeKeys, clock: FixedClock) -> Ingestion:
    return Ingestion(store, keys, clock, geo=FakeGeo(), erasures=FakeErasureRegister())


def tracked_count(store: AnalyticsStore, keys: FakeKeys, user: uuid.UUID) -> int:
    subject = keys.subject_for(user, create=False)
    if subject is None:
        return 0
    try:
        session: Session = store.repository.get(Session.create_id(subject, "session-1"))
    except AggregateNotFoundError:
        return 0
    return session.event_count


def test_consent_starts_with_every_purpose_off() -> None:
    record = Consent.start(uuid.uuid4())
    assert not any(record.allows(p) for p in ("analytics", "personalization", "marketing", "location"))


def test_events_of_a_user_who_never_consented_are_only_counted(
    ingestion: Ingestion, keys: FakeKeys, clock: FixedClock
) -> None:
    user = uuid.uuid4()
    report = ingestion.ingest([feedback(user, "x", at=clock.now())], sent_at=None, principal=SERVICE)
    assert (report.accepted, report.not_collected) == (0, 1)
    assert keys.count() == 0  # not even a key or a consent record is made


def test_the_clients_consent_flag_does_not_override_the_server_record(
    ingestion: Ingestion, store: AnalyticsStore, clock: FixedClock
) -> None:
    # tests.fakes.event always sends privacy.consent_given = true
    report = ingestion.ingest([feedback(uuid.uuid4(), "x", at=clock.now())], sent_at=None, principal=SERVICE)
    assert report.not_collected == 1
    assert store.ledger.not_collected_total() == 1


def test_a_consent_update_is_recorded_even_when_it_refuses_analytics(
    ingestion: Ingestion, store: AnalyticsStore, keys: FakeKeys, clock: FixedClock
) -> None:
    user = uuid.uuid4()
    report = ingestion.ingest([consent(user, analytics=False, at=clock.now())], sent_at=None, principal=SERVICE)
    assert report.accepted == 1
    subject = keys.subject_for(user, create=False)
    assert subject is not None
    record: Consent = store.repository.get(Consent.create_id(subject))
    assert record.choice == ConsentChoice()
    assert [(h.source, h.changed_by) for h in record.history] == [("app_event", SERVICE.label)]
    assert tracked_count(store, keys, user) == 0  # but not as a tracked analytics event


def test_granted_analytics_collects_the_events_that_follow_in_the_same_batch(
    ingestion: Ingestion, store: AnalyticsStore, keys: FakeKeys, clock: FixedClock
) -> None:
    user = uuid.uuid4()
    now = clock.now()
    batch = [feedback(user, "before", at=now), consent(user, analytics=True, at=now), feedback(user, "after", at=now)]
    report = ingestion.ingest(batch, sent_at=None, principal=SERVICE)
    assert (report.accepted, report.not_collected) == (2, 1)
    assert tracked_count(store, keys, user) == 2


def test_a_withdrawal_stops_collection_of_queued_events_sent_after_it(
    ingestion: Ingestion, store: AnalyticsStore, keys: FakeKeys, clock: FixedClock
) -> None:
    user = uuid.uuid4()
    ingestion.ingest([consent(user, analytics=True, at=clock.now())], sent_at=None, principal=SERVICE)
    clock.advance(hours=2)
    # Queued offline an hour before the withdrawal, delivered after it.
    queued = feedback(user, "queued", at=clock.now() - timedelta(hours=1))
    ingestion.ingest([consent(user, analytics=False, at=clock.now())], sent_at=None, principal=SERVICE)
    report = ingestion.ingest([queued], sent_at=None, principal=SERVICE)
    assert (report.accepted, report.not_collected) == (0, 1)
    assert tracked_count(store, keys, user) == 1  # only the first consent update


def test_each_consent_change_keeps_who_when_and_from_where(
    ingestion: Ingestion, store: AnalyticsStore, keys: FakeKeys, clock: FixedClock
) -> None:
    user = uuid.uuid4()
    ingestion.ingest([consent(user, analytics=True, location=True, at=clock.now())], sent_at=None, principal=SERVICE)
    clock.advance(days=1)
    ingestion.ingest([consent(user, analytics=True, location=False, at=clock.now())], sent_at=None, principal=SERVICE)
    subject = keys.subject_for(user, create=False)
    assert subject is not None
    record: Consent = store.repository.get(Consent.create_id(subject))
    assert [h.choice.location for h in record.history] == [True, False]
    assert record.history[1].effective_at - record.history[0].effective_at == timedelta(days=1)
    assert record.allows("analytics")
    assert not record.allows("location")


def test_not_collected_events_are_counted_on_their_utc_day(
    ingestion: Ingestion, store: AnalyticsStore, clock: FixedClock
) -> None:

    # 23:30 in UTC-5 on the 24th is 04:30 UTC on the 25th.
    local = clock.now().replace(hour=4, minute=30).astimezone(timezone(timedelta(hours=-5)))
    ingestion.ingest([feedback(uuid.uuid4(), "x", at=local)], sent_at=None, principal=SERVICE)
    recorder = store.recorder
    assert dict(recorder._not_collected) == {(clock.now().date(), "wave_feedback_submitted"): 1}  # type: ignore[attr-defined]
