"""The encrypting mapper: every catalog event round-trips; keys and positions are enforced."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

import msgspec
import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.encryption.envelope import seal
from adapters.encryption.mapper import EncryptingMapper, TamperedEvent, subject_of_state
from domain.catalog import CATALOG_EVENT_TYPES, CatalogEvent
from domain.errors import SubjectErased
from domain.redacted import RedactedEvent
from domain.session import Session, TrackedEvent
from domain.user import User
from domain.validation import decode_event
from tests.fakes import FakeKeys, feedback
from tests.strategies import catalog_events

AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def tracked(keys: FakeKeys, raw: dict[str, object]) -> tuple[Session, Session.EventsTracked, uuid.UUID]:
    catalog_event = decode_event(msgspec.json.encode(raw))
    subject = keys.subject_for(uuid.UUID(str(raw["user_id"])), create=True)
    assert subject is not None
    session = Session.start(subject, str(raw["session_id"]), AT)
    session.track(
        [TrackedEvent(event=catalog_event, occurred_at=AT, received_at=AT, late=False, clock_skew_seconds=0.0)]
    )
    pending = session.collect_events()
    tracked_event = pending[-1]
    assert isinstance(tracked_event, Session.EventsTracked)
    return session, tracked_event, subject


@pytest.mark.parametrize("event_type", CATALOG_EVENT_TYPES, ids=lambda t: str(t.__struct_config__.tag))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_every_catalog_event_round_trips_through_the_encrypting_mapper(
    event_type: type[CatalogEvent], data: st.DataObject
) -> None:
    keys = FakeKeys()
    mapper = EncryptingMapper(keys)
    _, original, subject = tracked(keys, data.draw(catalog_events(event_type)))
    stored = mapper.to_stored_event(original)
    assert subject_of_state(stored.state) == subject
    restored = mapper.to_domain_event(stored)
    assert type(restored) is Session.EventsTracked
    assert vars(restored) == vars(original)
    assert type(restored.events[0].event) is event_type  # type: ignore[attr-defined]


@given(raw=catalog_events())
@settings(max_examples=50, deadline=None)
def test_no_property_value_appears_in_the_stored_state(raw: dict[str, object]) -> None:
    keys = FakeKeys()
    _, original, _ = tracked(keys, raw)
    stored = EncryptingMapper(keys).to_stored_event(original)
    # Every value the person sent, as the JSON text it travels in, plus each string as such. Values shorter
    # than 6 bytes are left out: the ciphertext is random bytes and would hold some of them by chance.
    sent = [raw["user_id"], raw["event_id"], raw["session_id"], *leaves(raw["properties"])]
    texts = {msgspec.json.encode(value) for value in sent} | {v.encode() for v in sent if isinstance(v, str)}
    for text in texts:
        if len(text) >= 6:
            assert text not in stored.state, text


def leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in leaves(item)]
    return [value]


def test_a_long_comment_is_not_in_the_stored_state() -> None:
    keys = FakeKeys()
    comment = "my private thoughts about today " * 3
    raw = {**msgspec.json.decode(feedback(uuid.uuid4(), comment, at=AT)), "session_id": "s-1"}
    _, original, _ = tracked(keys, raw)
    stored = EncryptingMapper(keys).to_stored_event(original)
    assert comment.encode() not in stored.state
    assert b"private" not in stored.state


def test_each_event_gets_a_fresh_nonce() -> None:
    keys = FakeKeys()
    subject = keys.subject_for(uuid.uuid4(), create=True)
    assert subject is not None
    mapper = EncryptingMapper(keys)
    user = User.first_seen(subject, AT)
    (first_seen,) = user.collect_events()
    assert mapper.to_stored_event(first_seen).state != mapper.to_stored_event(first_seen).state


def test_reading_after_the_key_is_gone_yields_a_redacted_event() -> None:
    keys = FakeKeys()
    subject = keys.subject_for(uuid.uuid4(), create=True)
    assert subject is not None
    mapper = EncryptingMapper(keys)
    (first_seen,) = User.first_seen(subject, AT).collect_events()
    stored = mapper.to_stored_event(first_seen)
    keys.erase(subject)
    redacted = mapper.to_domain_event(stored)
    assert isinstance(redacted, RedactedEvent)
    assert redacted.original_topic == stored.topic
    assert set(vars(redacted)) == {"originator_id", "originator_version", "timestamp", "original_topic", "subject_id"}
    with pytest.raises(SubjectErased):
        redacted.mutate(None)


def test_writing_for_an_erased_subject_is_refused() -> None:
    keys = FakeKeys()
    subject = keys.subject_for(uuid.uuid4(), create=True)
    assert subject is not None
    (first_seen,) = User.first_seen(subject, AT).collect_events()
    keys.erase(subject)
    with pytest.raises(SubjectErased):
        EncryptingMapper(keys).to_stored_event(first_seen)


def test_a_key_of_another_subject_does_not_open_the_event() -> None:
    keys = FakeKeys()
    subject = keys.subject_for(uuid.uuid4(), create=True)
    other = keys.subject_for(uuid.uuid4(), create=True)
    assert subject is not None
    assert other is not None
    mapper = EncryptingMapper(keys)
    (first_seen,) = User.first_seen(subject, AT).collect_events()
    stored = mapper.to_stored_event(first_seen)
    keys.keys[subject] = keys.keys[other]
    with pytest.raises(TamperedEvent):
        mapper.to_domain_event(stored)


def test_the_erasure_record_stays_readable_without_the_key() -> None:
    keys = FakeKeys()
    subject = keys.subject_for(uuid.uuid4(), create=True)
    assert subject is not None
    user = User.first_seen(subject, AT)
    user.erase("auditor")
    _, erased = user.collect_events()
    mapper = EncryptingMapper(keys)
    stored = mapper.to_stored_event(erased)
    keys.erase(subject)
    restored = mapper.to_domain_event(stored)
    assert isinstance(restored, User.Erased)
    assert restored.requested_by == "auditor"


def first_seen_stored(keys: FakeKeys) -> tuple[uuid.UUID, User.FirstSeen, StoredEvent]:
    """A new subject's first event, as the mapper stores it today."""
    subject = keys.subject_for(uuid.uuid4(), create=True)
    assert subject is not None
    (first_seen,) = User.first_seen(subject, AT).collect_events()
    assert isinstance(first_seen, User.FirstSeen)
    return subject, first_seen, EncryptingMapper(keys).to_stored_event(first_seen)


def test_a_swapped_subject_id_is_detected_even_where_that_key_would_open_the_body() -> None:
    keys = FakeKeys()
    subject, _, stored = first_seen_stored(keys)
    other = keys.orphan_subject()
    keys.keys[other] = keys.keys[subject]  # so only the authenticated header can tell
    swapped = stored.state[:1] + other.bytes + stored.state[17:]
    with pytest.raises(TamperedEvent, match="altered or moved"):
        EncryptingMapper(keys).to_domain_event(dataclasses.replace(stored, state=swapped))


def test_records_of_the_older_sealed_format_stay_readable_and_cannot_be_relabelled() -> None:
    keys = FakeKeys()
    subject, first_seen, new = first_seen_stored(keys)
    # Format 1, as written before issue 13: associated data "stream:version:topic" only.
    state = {k: v for k, v in vars(first_seen).items() if k not in ("originator_id", "originator_version")}
    aad = f"{new.originator_id}:{new.originator_version}:{new.topic}".encode()
    body = seal(keys.keys[subject], msgspec.msgpack.encode(state), aad)
    old = dataclasses.replace(new, state=bytes([1]) + subject.bytes + body)
    mapper = EncryptingMapper(keys)
    assert vars(mapper.to_domain_event(old)) == vars(first_seen)
    assert new.state[0] == 2
    for relabelled in (bytes([1]) + new.state[1:], bytes([2]) + old.state[1:], bytes([9]) + new.state[1:]):
        with pytest.raises(TamperedEvent):
            mapper.to_domain_event(dataclasses.replace(new, state=relabelled))
