"""Quarantine on SQLite and PostgreSQL: nothing rejected is lost, erasure reaches it, replay works."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec
import pytest

import application.ingest.ingestion as ingestion_module
from application.ingest.quarantine_book import QuarantineNotFound
from application.principals import Principal
from domain.errors import EventRejected, FieldError, SubjectErased
from domain.validation import decode_event
from entrypoints.bootstrap import Container
from tests.fakes import consent, event, feedback
from tests.integration.storage_access import raw_bytes

SERVICE = Principal(subject="tests", role="service")
CANARY = "CANARY-quarantine-0c1d"


def send(container: Container, *raw: bytes, principal: Principal = SERVICE) -> tuple[int, int, int, int]:
    report = container.ingestion.ingest(list(raw), sent_at=None, principal=principal)
    return report.accepted, report.duplicates, len(report.rejected), report.not_collected


def bad_feedback(user: uuid.UUID, comment: str = CANARY) -> bytes:
    return event("wave_feedback_submitted", user, {"wave_id": "w", "rating": 9, "comment": comment})


def test_a_rejected_event_is_kept_with_its_reasons_and_encrypted(container: Container) -> None:
    user = uuid.uuid4()
    assert send(container, consent(user, analytics=True), bad_feedback(user)) == (1, 0, 1, 0)
    (entry,) = container.quarantine.entries()
    assert entry.status == "quarantined"
    assert entry.has_payload
    assert entry.reasons == [FieldError("properties.rating", "must be an integer between 1 and 5")]
    assert CANARY.encode() in (container.quarantine.payload(entry.id) or b"")
    assert CANARY.encode() not in raw_bytes(container)


def test_erasure_reaches_the_persons_quarantined_events(container: Container) -> None:
    user = uuid.uuid4()
    send(container, consent(user, analytics=True), bad_feedback(user))
    container.erasure.erase(user, requested_by="test")
    (entry,) = container.quarantine.entries()
    assert entry.status == "redacted"
    with pytest.raises(SubjectErased, match="erased"):
        container.quarantine.payload(entry.id)


def test_without_consent_only_the_reasons_are_kept(container: Container) -> None:
    user = uuid.uuid4()
    assert send(container, bad_feedback(user)) == (0, 0, 1, 0)
    (entry,) = container.quarantine.entries()
    assert not entry.has_payload
    assert entry.reasons[0].path == "properties.rating"
    assert container.keys.subject_for(user, create=False) is None  # and no link to the person


def test_an_event_whose_user_id_cannot_be_read_is_kept_whole(container: Container) -> None:
    raw = msgspec.json.encode({"event_name": "wave_joined", "user_id": "not-a-uuid", "note": CANARY})
    assert send(container, raw) == (0, 0, 1, 0)
    (entry,) = container.quarantine.entries()
    assert container.quarantine.payload(entry.id) == raw


def test_replay_after_a_fix_stores_the_event_and_closes_the_entry(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = uuid.uuid4()
    send(container, consent(user, analytics=True))

    def stricter(raw: bytes) -> object:
        decoded = decode_event(raw)
        if decoded.name == "wave_joined":
            raise EventRejected([FieldError("event_name", "wave_joined is not accepted by this release")])
        return decoded

    monkeypatch.setattr(ingestion_module, "decode_event", stricter)
    assert send(container, event("wave_joined", user, {"wave_id": "w"}, at=datetime.now(UTC))) == (0, 0, 1, 0)
    monkeypatch.undo()  # the fix ships

    (entry,) = container.quarantine.entries()
    report = container.quarantine.replay(entry.id)
    assert report.accepted == 1
    assert container.quarantine.entry(entry.id).status == "accepted"
    assert list(container.quarantine.entries(only_open=True)) == []  # nothing open any more
    assert [e.status for e in container.quarantine.entries(only_open=False)] == ["accepted"]
    with pytest.raises(QuarantineNotFound, match="already accepted"):
        container.quarantine.replay(entry.id)


def test_a_replay_has_no_more_authority_than_the_original_sender(container: Container) -> None:
    me, someone = uuid.uuid4(), uuid.uuid4()
    send(container, consent(someone, analytics=True))
    mine = Principal(subject=str(me), role="user")
    send(container, consent(me, analytics=True), principal=mine)  # kept whole under my key, so replayable
    assert send(container, feedback(someone, "x"), principal=mine) == (0, 0, 1, 0)
    (entry,) = container.quarantine.entries()
    report = container.quarantine.replay(entry.id)
    assert report.accepted == 0
    assert report.rejected[0].errors[0].path == "user_id"
    assert container.quarantine.entry(entry.id).status == "quarantined"


def test_an_unknown_id_is_a_clear_error(container: Container) -> None:
    missing = uuid.uuid4()
    with pytest.raises(QuarantineNotFound, match=str(missing)):
        container.quarantine.replay(missing)
