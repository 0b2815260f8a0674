"""Whose key a rejected event is kept under, on SQLite and PostgreSQL (issue 13, items 6 and 7).

What a sender sent about someone else is the sender's data: it never lands in
the named person's export or history. And rejected events cannot mint keys:
one request's entries linked to no one share one key.
"""

from __future__ import annotations

import uuid

import msgspec

from application.principals import Principal
from entrypoints.bootstrap import Container
from tests.fakes import consent, event, feedback
from tests.integration.storage_access import key_rows

SERVICE = Principal(subject="tests", role="service")


def as_user(person: uuid.UUID) -> Principal:
    return Principal(subject=str(person), role="user")


def quarantined_under(container: Container, person: uuid.UUID) -> list[str]:
    subject = container.keys.subject_for(person, create=False)
    assert subject is not None
    return [e.event_type for e in container.history.of_subject(subject) if e.event_type.startswith("Quarantined")]


def test_events_a_user_sends_about_someone_else_stay_out_of_that_persons_export_and_history(
    container: Container,
) -> None:
    sender, target = uuid.uuid4(), uuid.uuid4()
    container.ingestion.ingest([consent(target, analytics=True)], sent_at=None, principal=SERVICE)
    container.ingestion.ingest([consent(sender, analytics=True)], sent_at=None, principal=as_user(sender))

    forged = [feedback(target, f"written by {sender}"), consent(target, analytics=False)]
    report = container.ingestion.ingest(forged, sent_at=None, principal=as_user(sender))

    assert [r.errors[0].path for r in report.rejected] == ["user_id", "user_id"]
    assert quarantined_under(container, target) == []
    assert container.export.bundle(target)["rejected_events"] == []
    assert str(sender).encode() not in msgspec.json.encode(container.export.bundle(target))
    assert quarantined_under(container, sender) == ["QuarantinedEvent.Kept"] * 2  # the sender's own data
    assert container.consent.current(target).choice.analytics is True


def test_a_sender_without_a_record_of_their_own_leaves_only_reasons_under_a_key_linked_to_no_one(
    container: Container,
) -> None:
    sender, target = uuid.uuid4(), uuid.uuid4()
    container.ingestion.ingest([consent(target, analytics=True)], sent_at=None, principal=SERVICE)
    container.ingestion.ingest([feedback(target, "x")], sent_at=None, principal=as_user(sender))

    assert quarantined_under(container, target) == []
    assert [e.has_payload for e in container.quarantine.entries()] == [False]
    assert container.keys.subject_for(sender, create=False) is None


def test_one_request_of_a_thousand_rejected_events_adds_one_key_not_a_thousand(container: Container) -> None:
    before = key_rows(container)
    broken = [event("wave_joined", uuid.uuid4(), {"wave_id": 7}) for _ in range(1000)]
    report = container.ingestion.ingest(broken, sent_at=None, principal=SERVICE)
    assert len(report.rejected) == 1000
    assert len(list(container.quarantine.entries())) == 1000  # each still kept, with its reasons
    assert key_rows(container) - before == 1
