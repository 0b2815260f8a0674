"""What a client is told about a refused event or consent change, word for word.

These messages are the contract the SDK's ``onError`` passes on (the server's
path and message), so each one is pinned here as a literal. Found missing by
mutation testing (docs/architecture.md, "Mutation score").
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from domain.consent import Consent, ConsentChoice, ConsentRuleBroken
from domain.errors import EventRejected
from domain.timing import place_in_time
from domain.validation import decode_event
from tests.fakes import event, feedback

Change = Callable[[dict[str, Any]], None]


def _set(*path: str, value: Any) -> Change:
    def change(sent: dict[str, Any]) -> None:
        target = sent
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return change


def _drop(*path: str) -> Change:
    def change(sent: dict[str, Any]) -> None:
        target = sent
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]

    return change


def refused(raw: bytes, change: Change) -> list[tuple[str, str]]:
    sent = json.loads(raw)
    change(sent)
    with pytest.raises(EventRejected) as rejected:
        decode_event(json.dumps(sent).encode())
    return [(error.path, error.message) for error in rejected.value.errors]


FEEDBACK = feedback(uuid.uuid4(), "kind words")
UPDATED = event("microact_updated", uuid.uuid4(), {"microact_id": "m", "fields": ["title"]})
FIELDS_RULE = "must be a list of 1 to 20 items of field names"

CASES: list[tuple[str, bytes, Change, list[tuple[str, str]]]] = [
    ("bounded integer", FEEDBACK, _set("properties", "rating", value=9),
     [("properties.rating", "must be an integer between 1 and 5")]),
    ("bounded integer, wrong type", FEEDBACK, _set("properties", "rating", value="x"),
     [("properties.rating", "must be an integer between 1 and 5, got str")]),
    ("optional string, wrong type", FEEDBACK, _set("properties", "comment", value=5),
     [("properties.comment", "must be a string of at most 2000 characters, got int")]),
    ("string too long", FEEDBACK, _set("properties", "comment", value="x" * 2001),
     [("properties.comment", "must be a string of at most 2000 characters")]),
    ("string of a bounded length", FEEDBACK, _set("session_id", value=""),
     [("session_id", "must be a string of 1 to 128 characters")]),
    ("null for a string", FEEDBACK, _set("context", "app_version", value=None),
     [("context.app_version", "must be a string of 1 to 32 characters, got null")]),
    ("literal", FEEDBACK, _set("context", "platform", value="windows"),
     [("context.platform", "must be one of 'android', 'ios', 'web'")]),
    ("boolean", FEEDBACK, _set("privacy", "consent_given", value="yes"),
     [("privacy.consent_given", "must be true or false, got str")]),
    ("uuid", FEEDBACK, _set("user_id", value="nope"), [("user_id", "must be a UUID string")]),
    ("datetime", FEEDBACK, _set("timestamp", value="yesterday"),
     [("timestamp", "must be an RFC 3339 datetime with a UTC offset, e.g. 2026-05-01T09:30:00+02:00")]),
    ("object", FEEDBACK, _set("context", value=3), [("context", "must be an object, got int")]),
    ("object given a list", FEEDBACK, _set("privacy", value=[]), [("privacy", "must be an object, got array")]),
    ("locale pattern", FEEDBACK, _set("context", "locale", value="!!"),
     [("context.locale", "must be a BCP 47 language tag such as en-US")]),
    ("required property", FEEDBACK, _drop("properties", "wave_id"), [("properties.wave_id", "is required")]),
    ("unknown property", FEEDBACK, _set("properties", "mood", value=1),
     [("properties.mood", "is not a field of this event in the catalog")]),
    ("unknown event name", FEEDBACK, _set("event_name", value="nope"),
     [("event_name", "must be one of the 25 event names of the catalog")]),
    ("category of the name", FEEDBACK, _set("event_category", value="user"),
     [("event_category", "must be 'wave' for wave_feedback_submitted, got 'user'")]),
    ("time zone", FEEDBACK, _set("context", "timezone", value="Mars/Base"),
     [("context.timezone", "'Mars/Base' is not an IANA time zone, e.g. Europe/Berlin")]),
    ("list too short", UPDATED, _set("properties", "fields", value=[]), [("properties.fields", FIELDS_RULE)]),
    ("list given a string", UPDATED, _set("properties", "fields", value="title"),
     [("properties.fields", FIELDS_RULE + ", got str")]),
    ("item of a list", UPDATED, _set("properties", "fields", value=[5]),
     [("properties.fields[0]", "must be a string of 1 to 64 characters, got int")]),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "change", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_broken_rule_is_named_by_its_path_and_what_it_must_be(
    raw: bytes, change: Change, expected: list[tuple[str, str]]
) -> None:
    assert refused(raw, change) == expected


def test_following_oneself_is_refused() -> None:
    me = uuid.uuid4()
    raw = event("user_followed", me, {"followed_user_id": str(me)})
    assert refused(raw, lambda sent: None) == [("properties.followed_user_id", "must not be the sender's own user_id")]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"[]", [("", "must be an object, got array")]),
        (b'{"event_name": "wave_joined"', [("", "not valid JSON: Input data was truncated")]),
    ],
)
def test_a_body_that_is_no_event_object_is_refused_at_the_top(body: bytes, expected: list[tuple[str, str]]) -> None:
    with pytest.raises(EventRejected) as rejected:
        decode_event(body)
    assert [(error.path, error.message) for error in rejected.value.errors] == expected


# --- time -----------------------------------------------------------------------------------------------------

RECEIVED = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_the_time_placed_is_in_utc_whatever_offset_the_device_sent() -> None:
    berlin = RECEIVED.astimezone(timezone(timedelta(hours=1)))
    placed = place_in_time(berlin, received_at=RECEIVED, sent_at=None)
    assert placed.occurred_at.tzinfo is UTC
    assert placed.occurred_at == RECEIVED


def test_an_event_at_exactly_the_servers_time_is_not_in_the_future() -> None:
    assert not place_in_time(RECEIVED, received_at=RECEIVED, sent_at=None).future
    assert place_in_time(RECEIVED + timedelta(microseconds=1), received_at=RECEIVED, sent_at=None).future


@pytest.mark.parametrize(
    ("timestamp", "sent_at", "expected"),
    [
        (RECEIVED + timedelta(minutes=6), None,
         ("timestamp", "is more than 5 minutes in the future (after clock correction)")),
        (RECEIVED - timedelta(days=31), None, ("timestamp", "is older than 30 days; such events are not accepted")),
        (datetime(9999, 1, 1, tzinfo=UTC), datetime(1, 1, 2, tzinfo=UTC),
         ("sent_at", "is too far from the server's clock to correct the event's timestamp by")),
    ],
)  # fmt: skip
def test_times_out_of_bounds_are_refused_with_their_reason(
    timestamp: datetime, sent_at: datetime | None, expected: tuple[str, str]
) -> None:
    with pytest.raises(EventRejected) as rejected:
        place_in_time(timestamp, received_at=RECEIVED, sent_at=sent_at)
    assert [(e.path, e.message) for e in rejected.value.errors] == [expected]


# --- consent --------------------------------------------------------------------------------------------------


def test_a_consent_change_keeps_the_id_of_the_event_that_carried_it() -> None:
    record, carried = Consent.start(uuid.uuid4()), uuid.uuid4()
    record.change(
        ConsentChoice(analytics=True), effective_at=RECEIVED, source="app_event", changed_by="x", event_id=carried
    )
    assert record.history[-1].event_id == carried


def test_a_consent_change_that_names_nobody_is_refused() -> None:
    record = Consent.start(uuid.uuid4())
    with pytest.raises(ConsentRuleBroken, match=r"^a consent change must name who made it$"):
        record.change(ConsentChoice(), effective_at=RECEIVED, source="api", changed_by="")
