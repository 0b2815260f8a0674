"""Segment/RudderStack messages in catalog terms: mapping, time correction, quarantine reasons, write keys."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from application.ingest.ingestion import Ingestion
from application.sources.intake import (
    InvalidSegmentRequest,
    SegmentIntake,
    SegmentRequest,
    WriteKeys,
    parse_batch,
    parse_message,
)
from application.sources.mapping import BatchFields, Ignored, Mapped, Unmapped, map_message
from domain.errors import FieldError
from entrypoints.settings import SettingsError, load_settings
from tests.fakes import FakeErasureRegister, FakeGeo, FakeKeys, FixedClock, in_memory_store
from tests.segment_messages import CONTEXT
from tests.segment_messages import consent_message as segment_consent
from tests.segment_messages import track as segment_track

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MISSING_FIELD = object()
USER = "6f1c1f0e-1111-4c4c-8888-123456789abc"


def track(event: str | None = "wave_joined", properties: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    return segment_track(event, properties, at=NOW - timedelta(minutes=1), **fields)


def mapped(message: dict[str, Any], batch: BatchFields | None = None) -> Mapped | Ignored | Unmapped:
    return map_message(msgspec.json.encode(message), batch=batch or BatchFields(), source="ios-app", received_at=NOW)


def catalog_event(message: dict[str, Any], batch: BatchFields | None = None) -> dict[str, Any]:
    outcome = mapped(message, batch)
    assert isinstance(outcome, Mapped), outcome
    return msgspec.json.decode(outcome.raw)  # type: ignore[no-any-return]


def test_a_track_message_becomes_the_catalog_event_of_its_name() -> None:
    message_id = str(uuid.uuid4())
    assert catalog_event(track(messageId=message_id)) == {
        "event_id": message_id,
        "event_name": "wave_joined",
        "event_category": "wave",
        "user_id": USER,
        "session_id": "session-1",
        "timestamp": (NOW - timedelta(minutes=1)).isoformat(),
        "properties": {"wave_id": "w-1"},
        "context": {
            "device_type": "mobile",
            "platform": "ios",
            "app_version": "2.4.1",
            "locale": "en-US",
            "timezone": "Europe/Berlin",
        },
        "privacy": {"consent_given": False, "ip_anonymized": False},
    }


def test_a_message_id_that_is_not_a_uuid_becomes_a_uuid5_in_the_documented_namespace() -> None:
    event = catalog_event(track(messageId="ajs-next-1700000000000-abc"))
    namespace = uuid.UUID("d69abbc1-7cff-5de7-a4e5-de2aaf6c5102")
    assert event["event_id"] == str(uuid.uuid5(namespace, "ios-app:ajs-next-1700000000000-abc"))
    assert namespace == uuid.uuid5(uuid.NAMESPACE_URL, "https://addvalue.app/ns/segment-message-id")
    assert catalog_event(track(messageId="ajs-next-1700000000000-abc"))["event_id"] == event["event_id"]


@pytest.mark.parametrize(
    ("device_type", "os_name", "expected"),
    [
        ("ios", "iOS", ("mobile", "ios")),
        ("android", "Android", ("mobile", "android")),
        ("Android", "Android", ("mobile", "android")),  # RudderStack capitalises
        ("tablet", "iPadOS", ("tablet", "ios")),
        ("ipados", "iPadOS", ("tablet", "ios")),
        ("desktop", "web", ("desktop", "web")),
        ("watch", "watchOS", ("watch", "watchos")),  # left for the catalog to refuse
    ],
)
def test_device_type_and_os_name_map_to_the_catalogs_words(
    device_type: str, os_name: str, expected: tuple[str, str]
) -> None:
    context = {**CONTEXT, "device": {"type": device_type}, "os": {"name": os_name}}
    event = catalog_event(track(context=context))
    assert (event["context"]["device_type"], event["context"]["platform"]) == expected


def test_java_locales_rudderstack_numeric_sessions_and_an_explicit_privacy_object_are_taken() -> None:
    privacy = {"consent_given": True, "ip_anonymized": True}
    context = {**CONTEXT, "locale": "de_DE", "sessionId": 1_700_000_000_000, "privacy": privacy}
    event = catalog_event(track(context=context))
    assert event["context"]["locale"] == "de-DE"
    assert event["session_id"] == "1700000000000"
    assert event["privacy"] == privacy


def test_null_or_absent_properties_and_privacy_are_read_as_none_given() -> None:
    for absent in ({"properties": None}, {"properties": MISSING_FIELD}):
        message = {k: v for k, v in {**track("user_login"), **absent}.items() if v is not MISSING_FIELD}
        message["context"] = {**CONTEXT, "privacy": None}
        event = catalog_event(message)
        assert (event["properties"], event["privacy"]) == ({}, {"consent_given": False, "ip_anonymized": False})
    refused = mapped(track(properties=[]))
    assert isinstance(refused, Mapped)  # the catalog, not the mapping, says what is wrong with it


def test_batch_context_and_sent_at_apply_to_every_message_and_the_message_wins() -> None:
    message = track(context={"sessionId": "own-session", "device": {"type": "android"}})
    batch = BatchFields(context=CONTEXT, sent_at=NOW.isoformat())
    outcome = mapped(message, batch)
    assert isinstance(outcome, Mapped)
    event = msgspec.json.decode(outcome.raw)
    assert event["session_id"] == "own-session"
    assert event["context"]["device_type"] == "mobile"
    assert event["context"]["platform"] == "ios"  # from the batch's context.os
    assert outcome.sent_at == NOW


@pytest.mark.parametrize(
    ("times", "device_time", "sent_at", "field"),
    [
        # Segment: timestamp = receivedAt - (sentAt - originalTimestamp)
        ({"originalTimestamp": "2026-11-25T14:59:00Z", "sentAt": "2026-11-25T15:00:00Z"}, "14:59", "15:00", "o"),
        # A client's own timestamp is its device time too (what the mobile SDKs send), corrected the same way
        ({"timestamp": "2026-11-25T14:59:00Z", "sentAt": "2026-11-25T15:00:00Z"}, "14:59", "15:00", "t"),
        # Without sentAt there is nothing to correct by: timestamp as is
        ({"timestamp": "2026-11-25T11:59:00Z"}, "11:59", None, "t"),
        ({"originalTimestamp": "2026-11-25T11:58:00Z"}, "11:58", None, "o"),
        ({"timestamp": "2026-11-25T11:59:00Z", "originalTimestamp": "2026-11-25T14:59:00Z"}, "11:59", None, "t"),
        # No time at all: it happened when it was sent, or when it arrived
        ({"sentAt": "2026-11-25T15:00:00Z"}, "15:00", "15:00", "s"),
        ({}, "12:00", None, "t"),
    ],
)
def test_the_device_time_and_the_moment_of_sending_follow_segments_rules(
    times: dict[str, str], device_time: str, sent_at: str | None, field: str
) -> None:
    message = {k: v for k, v in track().items() if k != "timestamp"} | times
    outcome = mapped(message)
    assert isinstance(outcome, Mapped)
    occurred = datetime.fromisoformat(msgspec.json.decode(outcome.raw)["timestamp"])
    assert occurred.strftime("%H:%M") == device_time
    assert (outcome.sent_at.strftime("%H:%M") if outcome.sent_at else None) == sent_at
    assert outcome.time_field == {"o": "originalTimestamp", "t": "timestamp", "s": "sentAt"}[field]


@pytest.mark.parametrize(
    ("message", "path", "words"),
    [
        (track(event="Application Opened"), "event", "'Application Opened' is not an event of the AddValue catalog"),
        (track(event=None), "event", "is required"),
        (track(userId=None), "userId", "anonymous messages"),
        (track(userId=""), "userId", "anonymous messages"),
        (track(messageId=None), "messageId", "is required"),
        (track(messageId="x" * 101), "messageId", "1 to 100 characters"),
        (track(sentAt="yesterday"), "sentAt", "RFC 3339"),
        ({**track(), "type": "screen", "name": "Home"}, "type", "'screen' messages are not collected"),
        ({**track(), "type": "page"}, "type", "'page' messages are not collected"),
        ({"type": "alias", "userId": USER, "previousId": "anon-1"}, "type", "'alias' messages"),
        ({"type": "group", "userId": USER, "groupId": "g"}, "type", "'group' messages"),
        ({**track(), "type": "launch"}, "type", "must be one of track, identify"),
        ({"type": "identify", "anonymousId": "anon-1"}, "userId", "anonymous messages"),
        ({"type": "identify", "userId": "user-42"}, "userId", "must be a UUID"),
        ({"type": "identify", "userId": USER, "traits": {"email": "a@b.c"}}, "traits", "never their values"),
        ({"type": "identify", "userId": USER, "traits": ["a"]}, "traits", "never their values"),
        (
            {"type": "identify", "userId": USER, "context": {"traits": {"anonymousId": "a", "email": "a@b.c"}}},
            "context.traits",
            "never their values",
        ),
    ],
)
def test_what_the_catalog_cannot_hold_is_refused_with_the_reason(
    message: dict[str, Any], path: str, words: str
) -> None:
    outcome = mapped(message)
    assert isinstance(outcome, Unmapped)
    assert any(e.path == path and words in e.message for e in outcome.errors), outcome.errors


def test_an_identify_with_only_the_user_id_is_acknowledged_and_records_nothing() -> None:
    assert isinstance(mapped({"type": "identify", "userId": USER, "traits": {}, "messageId": "m"}), Ignored)
    assert isinstance(mapped({"type": "identify", "userId": USER}), Ignored)
    rudderstack = {"type": "identify", "userId": USER, "context": {"traits": {"anonymousId": "a", "userId": USER}}}
    assert isinstance(mapped(rudderstack), Ignored)


def test_a_refused_message_is_kept_but_for_trait_values_identifiers_and_the_write_key() -> None:
    message = {**track(event="Signed In"), "traits": {"email": "ada@example.com"}, "writeKey": "secret-key"}
    device = {"type": "ios", "id": "device-id", "advertisingId": "idfa", "token": "push-token", "model": "iPhone15,2"}
    message["context"] = {**CONTEXT, "traits": {"name": "Ada"}, "ip": "203.0.113.9", "device": device}
    outcome = mapped(message, BatchFields(sent_at=NOW.isoformat()))
    assert isinstance(outcome, Unmapped)
    kept = msgspec.json.decode(outcome.raw)
    assert kept["traits"] == {"email": None}
    assert kept["context"]["traits"] == {"name": None}
    assert kept["context"]["device"] == {"type": "ios", "model": "iPhone15,2"}
    for gone in ("writeKey", "anonymousId"):
        assert gone not in kept
    assert "ip" not in kept["context"]
    assert kept["sentAt"] == NOW.isoformat()  # the batch's fields are kept with it
    assert (kept["event"], kept["properties"]) == ("Signed In", message["properties"])
    assert outcome.app_user_id == uuid.UUID(USER)
    assert outcome.message_id == message["messageId"]


def test_a_refused_consent_update_is_marked_as_one_so_it_may_be_kept() -> None:
    outcome = mapped(track(event="user_consent_update", messageId=None))
    assert isinstance(outcome, Unmapped)
    assert outcome.is_consent_update


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"[1, 2]", "must be a JSON object"),
        (b"not json", "is not JSON"),
        (b'{"a":' * 2000 + b"1" + b"}" * 2000, "is not JSON"),
        (b'{"a":' * 70 + b"1" + b"}" * 70, "nested more than 64 levels"),
        (msgspec.json.encode(track(properties={"wave_id": "w", "pad": "x" * 33_000})), "at most 32768"),
    ],
)
def test_a_message_that_cannot_be_read_or_is_too_big_is_refused_not_an_error(raw: bytes, words: str) -> None:
    outcome = map_message(raw, batch=BatchFields(), source="s", received_at=NOW)
    assert isinstance(outcome, Unmapped)
    assert words in outcome.errors[0].message


def test_a_catalog_field_is_named_the_way_the_sdk_sent_it() -> None:
    outcome = mapped(track(originalTimestamp="x", sentAt=NOW.isoformat()))
    assert isinstance(outcome, Mapped)
    assert outcome.source_path("context.device_type") == "context.device.type"
    assert outcome.source_path("context.timezone") == "context.timezone"
    assert outcome.source_path("privacy.ip_anonymized") == "context.privacy.ip_anonymized"
    assert outcome.source_path("properties.round") == "properties.round"
    assert outcome.source_path("session_id") == "context.sessionId"
    assert outcome.source_path("timestamp") == "originalTimestamp"


# --- the use case, on the in-memory store ---------------------------------------


def intake() -> tuple[SegmentIntake, Ingestion, FakeKeys]:
    keys, clock = FakeKeys(), FixedClock(NOW)
    ingestion = Ingestion(in_memory_store(keys), keys, clock, geo=FakeGeo(), erasures=FakeErasureRegister())
    return SegmentIntake(ingestion, clock), ingestion, keys


def request(*messages: dict[str, Any], sent_at: str | None = None) -> SegmentRequest:
    return SegmentRequest(
        messages=[msgspec.json.encode(m) for m in messages], batch=BatchFields(sent_at=sent_at), write_key=None
    )


def consent_message(**fields: Any) -> dict[str, Any]:
    return segment_consent(at=NOW - timedelta(minutes=1), **fields)


def test_positions_ids_and_field_names_in_the_answer_are_the_sdks() -> None:
    segment, ingestion, _ = intake()
    bad_round = track("activation_round_completed", {"activation_id": "a", "round": 9, "duration_seconds": 1})
    no_session = track(context={k: v for k, v in CONTEXT.items() if k != "sessionId"})
    batch = request(track(event="Application Opened"), consent_message(), bad_round, track(userId=None), no_session)
    prepared = segment.prepare(batch, source="ios-app")
    assert [(r.index, r.event_id) for r in prepared.batch.rejected] == [
        (0, batch_message_id(batch, 0)),
        (2, batch_message_id(batch, 2)),
        (3, batch_message_id(batch, 3)),
        (4, batch_message_id(batch, 4)),
    ]
    errors = {r.index: r.errors for r in prepared.batch.rejected}
    assert errors[2] == [FieldError("properties.round", "must be an integer between 1 and 8")]
    assert errors[4] == [FieldError("context.sessionId", "is required")]
    assert len(prepared.batch.quarantine) == 4
    report = ingestion.record([prepared.batch])[0]
    assert (report.accepted, report.duplicates, report.not_collected) == (1, 0, 0)


def batch_message_id(batch: SegmentRequest, index: int) -> str:
    return str(msgspec.json.decode(batch.messages[index])["messageId"])


def test_the_write_key_sends_as_its_source_never_as_a_service_token() -> None:
    segment, _, _ = intake()
    prepared = segment.prepare(request(track(event="unknown")), source="backend")
    assert prepared.batch.source == "segment:backend"
    assert prepared.batch.sender is not None
    assert prepared.batch.sender.label == "write_key:backend"


def test_messages_sent_at_different_moments_are_each_corrected_by_their_own_and_keep_their_order() -> None:
    segment, _, _ = intake()
    first = consent_message(timestamp="2026-11-25T14:59:00Z", sentAt="2026-11-25T15:00:00Z")  # clock 3 h fast
    second = track(timestamp="2026-11-25T11:58:00Z")  # no sentAt: taken as is
    third = track("wave_left", {"wave_id": "w", "duration_seconds": 5}, timestamp="2026-11-25T09:59:00Z")
    prepared = segment.prepare(request(first, second, {**third, "sentAt": "2026-11-25T10:00:00Z"}), source="s")
    assert prepared.batch.rejected == []
    names = [(event.name, timing.occurred_at.strftime("%H:%M")) for event, timing in prepared.batch.valid]
    assert names == [("user_consent_update", "11:59"), ("wave_joined", "11:58"), ("wave_left", "11:59")]


def test_an_uncorrected_device_clock_three_hours_fast_would_be_refused() -> None:
    segment, _, _ = intake()
    prepared = segment.prepare(request(track(timestamp="2026-11-25T14:59:00Z")), source="s")
    assert prepared.batch.rejected[0].errors[0].path == "timestamp"
    assert "future" in prepared.batch.rejected[0].errors[0].message


@settings(max_examples=40, deadline=None)
@given(
    kinds=st.lists(
        st.sampled_from(["valid", "unknown", "anonymous", "bad", "identify", "traits", "screen", "again"]),
        min_size=1,
        max_size=12,
    )
)
def test_accepted_duplicates_rejected_not_collected_and_ignored_add_up_to_what_was_sent(kinds: list[str]) -> None:
    segment, ingestion, _ = intake()
    repeated = track()
    examples: dict[str, Callable[[], dict[str, Any]]] = {
        "valid": track,
        "unknown": lambda: track(event="Order Completed"),
        "anonymous": lambda: track(userId=None),
        "bad": lambda: track(properties={"wave_id": 5}),
        "identify": lambda: {"type": "identify", "userId": USER},
        "traits": lambda: {"type": "identify", "userId": USER, "traits": {"plan": "pro"}},
        "screen": lambda: {**track(), "type": "screen"},
        "again": lambda: repeated,
    }
    messages = [consent_message(), *(examples[kind]() for kind in kinds)]
    prepared = segment.prepare(request(*messages), source="s")
    report = ingestion.record([prepared.batch])[0]
    total = report.accepted + report.duplicates + len(report.rejected) + report.not_collected + prepared.ignored
    assert total == len(messages)
    assert len(prepared.batch.quarantine) == len(report.rejected)


# --- request parsing, write keys, settings ---------------------------------------


def test_a_batch_body_gives_its_messages_shared_fields_and_write_key() -> None:
    parsed = parse_batch(b'{"batch":[{"type":"track"},3],"context":{"locale":"en-US"},"sentAt":"x","writeKey":"k"}')
    assert parsed.messages == [b'{"type":"track"}', b"3"]
    assert parsed.batch == BatchFields(context={"locale": "en-US"}, sent_at="x")
    assert parsed.write_key == "k"


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"[]",
        b'{"batch": {}}',
        b'{"batch": [], "writeKey": 7}',
        b'{"batch": [], "context": "x"}',
        b'{"batch": [], "context": ' + b'{"a":' * 70 + b"1" + b"}" * 70 + b"}",
        b'{"batch":[' + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"]}",
        b'{"batch": [' + b",".join([b"{}"] * 2501) + b"]}",
    ],
)
def test_a_batch_body_that_cannot_be_read_whole_is_invalid(body: bytes) -> None:
    with pytest.raises(InvalidSegmentRequest):
        parse_batch(body)


def test_a_one_message_body_keeps_its_write_key_apart_from_the_message() -> None:
    parsed = parse_message(b'{"userId": "u", "writeKey": "k"}', "identify")
    assert parsed.write_key == "k"
    assert parsed.messages == [b'{"userId":"u"}']
    assert parsed.message_type == "identify"
    for bad in (b"[1]", b'{"writeKey": 1}', b"{"):
        with pytest.raises(InvalidSegmentRequest):
            parse_message(bad, "track")


def test_write_keys_name_their_source_and_nothing_else_matches() -> None:
    keys = WriteKeys({"k" * 32: "ios-app", "b" * 32: "backend", "c" * 32: "ios-app"})
    assert keys.source_of("k" * 32) == "ios-app"
    assert keys.source_of("c" * 32) == "ios-app"
    assert keys.source_of("b" * 32) == "backend"
    assert keys.source_of("k" * 31) is None
    assert keys.source_of("") is None
    assert keys.source_of("ü" * 32) is None


SETTINGS_BASE = {"ADDVALUE_MASTER_KEY": "A" * 43 + "=", "ADDVALUE_JWT_SECRET": "s" * 40}


def test_write_keys_are_read_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = {**SETTINGS_BASE, "ADDVALUE_WRITE_KEYS": f" ios-app={'k' * 20}= , backend={'b' * 16},ios-app={'n' * 16}"}
    assert load_settings(env).write_keys == {"k" * 20 + "=": "ios-app", "b" * 16: "backend", "n" * 16: "ios-app"}
    assert load_settings(SETTINGS_BASE).write_keys == {}


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("ios-app", "<source>=<key> pairs"),
        ("=" + "k" * 20, "<source>=<key> pairs"),
        ("ios app=" + "k" * 20, "<source>=<key> pairs"),
        ("ios-app=", "<source>=<key> pairs"),
        ("ios-app=short", "shorter than 16"),
        (f"a={'k' * 20},b={'k' * 20}", "same key"),
    ],
)
def test_malformed_write_keys_stop_the_start_without_echoing_a_key(
    value: str, words: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError, match=r"^ADDVALUE_WRITE_KEYS: ") as raised:
        load_settings({**SETTINGS_BASE, "ADDVALUE_WRITE_KEYS": value})
    assert words in str(raised.value)
    assert "kkkk" not in str(raised.value)
