"""Enrichment at ingestion: the address is anonymized first; geo only with location consent."""

from __future__ import annotations

import uuid

import msgspec

from application.ingest.ingestion import Ingestion
from application.principals import Principal
from domain.network import Geo
from domain.session import Session
from tests.fakes import FakeErasureRegister, FakeGeo, FakeKeys, FixedClock, consent, feedback, in_memory_store

SERVICE = Principal(subject="tests", role="service")


def ingest_with_location(location: bool, client_ip: str) -> tuple[list[Geo | None], FakeGeo, bytes]:
    keys, clock, geo = FakeKeys(), FixedClock(), FakeGeo(Geo(country="DE", region="BE"))
    store = in_memory_store(keys)
    ingestion = Ingestion(store, keys, clock, geo=geo, erasures=FakeErasureRegister())
    user = uuid.uuid4()
    batch = [consent(user, analytics=True, location=location, at=clock.now()), feedback(user, "x", at=clock.now())]
    prepared = ingestion.prepare(batch, sent_at=None, principal=SERVICE, client_ip=client_ip)
    ingestion.record([prepared])
    subject = keys.subject_for(user, create=False)
    assert subject is not None
    found: list[Geo | None] = []
    for notification in store.recorder.select_notifications(1, 100):
        decoded = store.mapper.to_domain_event(notification)
        if isinstance(decoded, Session.EventsTracked):
            found.extend(t.geo for t in decoded.events)
    stored = b"".join(n.state for n in store.recorder.select_notifications(1, 100))
    return found, geo, stored + msgspec.json.encode(prepared.network)


def test_with_location_consent_events_carry_country_and_region() -> None:
    found, geo, _ = ingest_with_location(True, "203.0.113.77")
    assert found == [Geo(country="DE", region="BE")] * 2
    assert geo.asked == ["203.0.113.0"]  # only ever the anonymized address, once per request


def test_without_location_consent_no_geo_is_looked_up_or_kept() -> None:
    found, geo, _ = ingest_with_location(False, "2001:db8:abcd:1234::1")
    assert found == [None, None]
    assert geo.asked == []


def test_the_full_address_goes_nowhere() -> None:
    _, _, kept = ingest_with_location(True, "198.51.100.23")
    assert b"198.51.100.23" not in kept
    assert b"198.51.100.0" in kept  # the anonymized network is what the batch carries


def test_a_client_that_is_not_an_ip_gives_no_network() -> None:
    keys, clock = FakeKeys(), FixedClock()
    ingestion = Ingestion(in_memory_store(keys), keys, clock, geo=FakeGeo(), erasures=FakeErasureRegister())
    prepared = ingestion.prepare([feedback(uuid.uuid4(), "x")], sent_at=None, principal=SERVICE, client_ip="testclient")
    assert prepared.network is None
