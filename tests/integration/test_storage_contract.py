"""The same storage contract, on SQLite and on PostgreSQL (see tests/conftest.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec
import pytest
from eventsourcing.persistence import MapperDeserialisationError

from adapters.encryption.mapper import TamperedEvent
from application.principals import Principal
from domain.errors import SubjectErased
from domain.session import Session
from domain.user import User
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.settings import Settings
from tests.fakes import consent, event, feedback
from tests.integration.storage_access import get_state, put_state, raw_bytes, tamper_last_byte

SERVICE = Principal(subject="tests", role="service")
CANARY = "CANARY-7f3a9c-my-private-feelings"


def ingest(container: Container, *raw: bytes) -> tuple[int, int, int, int]:
    report = container.ingestion.ingest(list(raw), sent_at=None, principal=SERVICE)
    return report.accepted, report.duplicates, len(report.rejected), report.not_collected


def test_events_survive_a_restart_and_resends_stay_duplicates(settings: Settings) -> None:
    user, event_id = uuid.uuid4(), uuid.uuid4()
    first = bootstrap(settings)
    assert ingest(first, consent(user, analytics=True), feedback(user, "hello", event_id=event_id)) == (2, 0, 0, 0)
    first.close()

    second = bootstrap(settings)
    try:
        subject = second.keys.subject_for(user, create=False)
        assert subject is not None
        tracked = [e for e in second.history.of_subject(subject) if e.event_type == "Session.EventsTracked"]
        assert sum(len(e.data["events"]) for e in tracked) == 2
        assert ingest(second, feedback(user, "hello", event_id=event_id)) == (0, 1, 0, 0)
        # A resend this process does not remember, beside a new event: the ledger refuses the first
        # write, and the retry stores the new one alone.
        third = bootstrap(settings)
        try:
            assert ingest(third, feedback(user, "new"), feedback(user, "hello", event_id=event_id)) == (1, 1, 0, 0)
        finally:
            third.close()
    finally:
        second.close()


def test_the_same_event_id_is_stored_once_within_and_across_batches(container: Container) -> None:
    user, event_id = uuid.uuid4(), uuid.uuid4()
    twice = feedback(user, "x", event_id=event_id)
    assert ingest(container, consent(user, analytics=True), twice, twice) == (2, 1, 0, 0)
    assert ingest(container, twice) == (0, 1, 0, 0)
    subject = container.keys.subject_for(user, create=False)
    assert subject is not None
    session = container.store.repository.get(Session.create_id(subject, "session-1"))
    assert session.event_count == 2  # the consent update and one feedback


def test_events_without_analytics_consent_are_counted_not_stored(container: Container) -> None:
    user = uuid.uuid4()
    assert ingest(container, feedback(user, CANARY)) == (0, 0, 0, 1)
    assert container.keys.subject_for(user, create=False) is None
    assert container.store.recorder.max_notification_id() in (None, 0)
    assert container.store.ledger.not_collected_total() == 1
    assert CANARY.encode() not in raw_bytes(container)


def test_a_canary_comment_never_reaches_the_database_in_clear(container: Container) -> None:
    user = uuid.uuid4()
    assert ingest(container, consent(user, analytics=True), feedback(user, CANARY)) == (2, 0, 0, 0)
    subject = container.keys.subject_for(user, create=False)
    assert subject is not None
    readable = b"".join(msgspec.json.encode(e) for e in container.history.of_subject(subject))
    assert CANARY.encode() in readable  # the code path that may read it, can
    stored = raw_bytes(container)
    assert CANARY.encode() not in stored
    assert str(user).encode() not in stored  # nor the app's user id


def test_after_erasure_nothing_readable_holds_the_users_data(container: Container) -> None:
    user, other = uuid.uuid4(), uuid.uuid4()
    ingest(container, consent(user, analytics=True), feedback(user, CANARY))
    ingest(container, consent(other, analytics=True), feedback(other, "someone else"))
    receipt = container.erasure.erase(user, requested_by="test")
    assert receipt.key_destroyed

    assert container.keys.subject_for(user, create=False) is None
    history = list(container.history.of_subject(receipt.subject_id))
    assert [e.event_type for e in history if not e.redacted] == ["User.Erased"]
    assert len(history) >= 5
    everything = container.store.recorder.select_notifications(1, 10_000)
    decoded = b"".join(msgspec.json.encode(vars(container.store.mapper.to_domain_event(n))) for n in everything)
    assert CANARY.encode() not in decoded
    assert b"someone else" in decoded  # other people's data is untouched
    assert CANARY.encode() not in raw_bytes(container)


def test_loading_an_erased_aggregate_raises_a_clear_error(container: Container) -> None:
    user = uuid.uuid4()
    ingest(container, consent(user, analytics=True), event("user_signup", user, {"signup_method": "email"}))
    subject = container.erasure.erase(user, requested_by="test").subject_id
    with pytest.raises(SubjectErased, match="erased subject"):
        container.store.repository.get(Session.create_id(subject, "session-1"))
    with pytest.raises(SubjectErased):
        container.store.repository.get(subject)


def test_an_erased_user_is_never_collected_again_not_even_a_new_consent(container: Container) -> None:
    user = uuid.uuid4()
    ingest(container, consent(user, analytics=True), feedback(user, "before"))
    container.erasure.erase(user, requested_by="test")
    # Offline queues and retries deliver more, a consent grant among them: none is collected.
    assert ingest(container, feedback(user, "after")) == (0, 0, 0, 1)
    assert ingest(container, consent(user, analytics=True)) == (0, 0, 0, 1)
    assert container.keys.subject_for(user, create=False) is None  # no new subject, no new key


def test_an_altered_ciphertext_is_tampering_and_raises(container: Container) -> None:
    user = uuid.uuid4()
    ingest(container, consent(user, analytics=True), feedback(user, "x"))
    subject = container.keys.subject_for(user, create=False)
    assert subject is not None
    tamper_last_byte(container, subject, 1)
    with pytest.raises(TamperedEvent, match="altered or moved"):
        container.store.repository.get(subject)


def test_a_ciphertext_moved_to_another_row_fails_to_decrypt(container: Container) -> None:
    user = uuid.uuid4()
    at = datetime.now(UTC)
    ingest(container, consent(user, analytics=True, at=at), feedback(user, "first", at=at))
    ingest(container, feedback(user, "second", at=at))  # a second write: version 3 of the session
    subject = container.keys.subject_for(user, create=False)
    assert subject is not None
    session_id = Session.create_id(subject, "session-1")
    put_state(container, session_id, 3, get_state(container, session_id, 2))
    with pytest.raises(MapperDeserialisationError):
        container.store.repository.get(session_id)


def test_user_aggregate_records_signup_once(container: Container) -> None:
    user = uuid.uuid4()
    signup = {"signup_method": "apple"}
    ingest(container, consent(user, analytics=True), event("user_signup", user, signup))
    ingest(container, event("user_signup", user, {"signup_method": "email"}))
    subject = container.keys.subject_for(user, create=False)
    assert subject is not None
    loaded = container.store.repository.get(subject)
    assert isinstance(loaded, User)
    assert loaded.signup_method == "apple"
