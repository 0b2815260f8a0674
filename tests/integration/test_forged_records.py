"""Records written behind the service's back (issue 13, item 2), on SQLite and on PostgreSQL.

Someone who can write to the event store but holds no key must not be able to
make the service believe something: a personal event stored "in clear" is
tampering, and the header of a sealed record (format byte, subject id) is
authenticated with the ciphertext.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import pytest

from adapters.encryption.mapper import TamperedEvent
from application.principals import Principal
from domain.consent import Consent, ConsentChoice
from domain.session import Session
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.settings import Settings
from tests.fakes import consent, feedback
from tests.integration.storage_access import execute, get_state, put_state

SERVICE = Principal(subject="tests", role="service")
PLAINTEXT_FORMAT = 0


def ingest(container: Container, *raw: bytes) -> tuple[int, int]:
    report = container.ingestion.ingest(list(raw), sent_at=None, principal=SERVICE)
    return report.accepted, report.not_collected


def withdrawn_consent(container: Container, user: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID, Consent.Changed]:
    """A person who granted and then withdrew analytics: (subject, consent stream, the withdrawal)."""
    assert ingest(container, consent(user, analytics=True), feedback(user, "before")) == (2, 0)
    assert ingest(container, consent(user, analytics=False), feedback(user, "withdrawn")) == (1, 1)
    subject = container.keys.subject_for(user, create=False)
    assert subject is not None
    stream = Consent.create_id(subject)
    withdrawal = container.store.repository.get(stream).history[-1]
    assert isinstance(withdrawal, Consent.Changed)
    assert not withdrawal.choice.analytics
    return subject, stream, withdrawal


def stored_rows(container: Container, stream: uuid.UUID) -> int:
    is_sqlite = container.settings.database.kind == "sqlite"
    [(count,)] = execute(
        container,
        "SELECT count(*) FROM stored_events WHERE originator_id=?",
        "SELECT count(*) FROM {events} WHERE originator_id=%s",
        (stream.hex if is_sqlite else stream,),
    )
    return int(count)


def plaintext_record(subject: uuid.UUID, event: Consent.Changed, **changes: Any) -> bytes:
    """What the mapper's "plaintext" format looks like: format 0, the subject id, msgpack of the fields."""
    state = {k: v for k, v in vars(event).items() if k not in ("originator_id", "originator_version")}
    state.update(changes)
    return bytes([PLAINTEXT_FORMAT]) + subject.bytes + msgspec.msgpack.encode(state)


def test_a_withdrawn_consent_overwritten_in_clear_does_not_restart_collection(settings: Settings) -> None:
    user = uuid.uuid4()
    first = bootstrap(settings)
    try:
        subject, stream, withdrawal = withdrawn_consent(first, user)
        forged = plaintext_record(subject, withdrawal, choice=ConsentChoice(analytics=True))
        put_state(first, stream, withdrawal.originator_version, forged)
        rows_before = stored_rows(first, Session.create_id(subject, "session-1"))
    finally:
        first.close()

    fresh = bootstrap(settings)  # nothing cached: the consent is read from the forged row
    try:
        with pytest.raises(TamperedEvent, match="personal event stored in clear"):
            fresh.store.repository.get(stream)
        # Ingestion reads the consent before it stores anything: the batch fails, loudly.
        with pytest.raises(TamperedEvent):
            ingest(fresh, feedback(user, "after the forgery"))
        assert stored_rows(fresh, Session.create_id(subject, "session-1")) == rows_before
    finally:
        fresh.close()


def test_a_sealed_records_format_byte_and_subject_id_are_authenticated(container: Container) -> None:
    user, other = uuid.uuid4(), uuid.uuid4()
    _, stream, withdrawal = withdrawn_consent(container, user)
    ingest(container, consent(other, analytics=True))
    other_subject = container.keys.subject_for(other, create=False)
    assert other_subject is not None
    version = withdrawal.originator_version
    genuine = get_state(container, stream, version)

    # The other person's key opens nothing of this person's, whatever the header says.
    put_state(container, stream, version, genuine[:1] + other_subject.bytes + genuine[17:])
    with pytest.raises(TamperedEvent):
        container.store.repository.get(stream)
    for other_format in (1, 0):  # an older sealed format, and the plaintext one
        put_state(container, stream, version, bytes([other_format]) + genuine[1:])
        with pytest.raises(TamperedEvent):
            container.store.repository.get(stream)
    put_state(container, stream, version, genuine)
    assert container.store.repository.get(stream).history[-1].choice == withdrawal.choice
