"""Erasure with a grace period, on SQLite and PostgreSQL: at once out of use, the key destroyed when due."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from application.principals import Principal
from application.privacy.erasure import UnknownUser
from domain.session import Session
from entrypoints.bootstrap import Container, Overrides, bootstrap
from entrypoints.settings import Settings
from tests.fakes import FixedClock, consent, event, feedback

SERVICE = Principal(subject="tests", role="service")
NOW = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def service(settings: Settings, clock: FixedClock) -> Iterator[Container]:
    built = bootstrap(settings, overrides=Overrides(clock=clock))
    yield built
    built.close()


def send(container: Container, *raw: bytes) -> tuple[int, int]:
    report = container.ingestion.ingest(list(raw), sent_at=None, principal=SERVICE)
    return report.accepted, report.not_collected


def decryptable_events_of(container: Container, subject: uuid.UUID) -> int:
    container.store.forget_cached()
    found = 0
    for stored in container.store.recorder.select_notifications(1, 100_000):
        decoded = container.store.mapper.to_domain_event(stored)
        if isinstance(decoded, Session.EventsTracked) and decoded.subject_id == subject:
            found += 1
    return found


def test_a_request_stops_use_at_once_and_the_key_goes_when_the_grace_period_ends(
    service: Container, clock: FixedClock
) -> None:
    person, other = uuid.uuid4(), uuid.uuid4()
    at = NOW - timedelta(hours=1)
    assert send(service, consent(person, analytics=True, at=at), consent(other, analytics=True, at=at)) == (2, 0)
    assert send(
        service, feedback(person, "kept until the key goes", at=at), event("post_liked", other, {"post_id": "p"}, at=at)
    ) == (2, 0)
    subject = service.keys.subject_for(person, create=False)
    assert subject is not None
    service.user_days.catch_up()
    assert service.user_days.days_of(subject, at.date(), at.date())

    receipt = service.erasure.request(person, requested_by="user")
    assert receipt.key_destroyed is False
    assert receipt.key_destroyed_by == NOW + timedelta(days=30)
    # At once: nothing more is collected, no reader finds them, per-person rows go.
    assert send(service, feedback(person, "after the request", at=NOW)) == (0, 1)
    assert service.subjects.subject_for(person) is None
    service.user_days.catch_up()
    assert service.user_days.days_of(subject, at.date(), at.date()) == []
    # The key still exists during the grace period: the history still decrypts for the auditors' proof.
    assert decryptable_events_of(service, subject) == 2  # the consent update and the feedback
    assert service.jobs.run("erasure-due").rows == 0

    clock.advance(days=30)
    report = service.jobs.run("erasure-due")
    assert (report.status, report.rows) == ("succeeded", 1)
    assert service.keys.data_key(subject) is None
    assert decryptable_events_of(service, subject) == 0
    assert service.jobs.run("erasure-due").rows == 0  # done once
    # The other person is untouched.
    assert service.subjects.subject_for(other) is not None


def test_asking_twice_gives_the_same_receipt_and_an_unknown_user_is_refused(service: Container) -> None:
    person = uuid.uuid4()
    send(service, consent(person, analytics=True, at=NOW))
    first = service.erasure.request(person, requested_by="user", grace=timedelta(0))
    assert first.key_destroyed is True
    again = service.erasure.request(person, requested_by="user")
    assert again.requested_at == first.requested_at
    with pytest.raises(UnknownUser):
        service.erasure.request(uuid.uuid4(), requested_by="user")


def test_the_register_tells_who_asked_to_be_erased_among_one_or_many(service: Container) -> None:
    """Asked before every read (one person) and every batch (one or several): both ways give the same."""
    asked, other, never_seen = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    send(service, consent(asked, analytics=True, at=NOW), consent(other, analytics=True, at=NOW))
    register = service.erasures
    assert register.blocked([asked]) == set()
    service.erasure.request(asked, requested_by="user")
    assert register.blocked([asked]) == {asked}
    assert register.blocked([other]) == set()
    assert register.blocked([never_seen]) == set()
    assert register.blocked([asked, other, never_seen]) == {asked}
    assert register.blocked([other, never_seen]) == set()
    assert register.blocked([asked, asked]) == {asked}
    assert register.blocked([]) == set()


def test_erasing_now_while_a_grace_period_erasure_is_pending_destroys_the_key_now(
    service: Container, clock: FixedClock
) -> None:
    person = uuid.uuid4()
    send(service, consent(person, analytics=True, at=NOW), feedback(person, "to be shredded", at=NOW))
    subject = service.keys.subject_for(person, create=False)
    assert subject is not None
    pending = service.erasure.request(person, requested_by="user")  # the person's own DELETE: 30 days of grace
    assert pending.key_destroyed is False

    clock.advance(hours=1)
    now = service.erasure.erase(person, requested_by="admin")  # "erase now" on top of the pending request
    assert now.key_destroyed is True
    assert now.requested_at == pending.requested_at  # still the first request, now completed
    assert now.key_destroyed_by == NOW + timedelta(hours=1)
    assert service.keys.data_key(subject) is None
    assert decryptable_events_of(service, subject) == 0
    assert service.jobs.run("erasure-due").rows == 0  # nothing left for the job when the grace ends
