"""Every rule of the collection contract (``shared/event-catalog.md``), accept and reject.

Each rejection names the field (``properties.round``) and states the rule
(``between 1 and 8``), so a client can act on it. The timing rules (clock
skew, future and past bounds, ``late``) are checked through
:func:`domain.timing.place_in_time`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest

from domain.catalog import CatalogEvent
from domain.errors import EventRejected, FieldError
from domain.timing import place_in_time
from domain.validation import decode_event, missing_field
from tests.fakes import event
from tests.unit.catalog_factory import (
    CATEGORY,
    EVENT_NAMES,
    OPTIONAL_PROPERTIES,
    OTHER_USER_ID,
    REQUIRED_PROPERTIES,
    SENDER_ID,
    encode,
    valid_event,
    with_value,
    without,
)

CATEGORIES = ("user", "activation", "microact", "community", "wave")


# --- helpers -----------------------------------------------------------------------------------------------------
def accepted(event: dict[str, Any]) -> CatalogEvent:
    """Decode an event that must pass every catalog rule."""
    return decode_event(encode(event))


def rejection_of_raw(raw: bytes) -> FieldError:
    """The single broken rule reported for ``raw``."""
    with pytest.raises(EventRejected) as rejected:
        decode_event(raw)
    errors = rejected.value.errors
    assert len(errors) == 1, errors
    return errors[0]


def rejection(event: dict[str, Any]) -> FieldError:
    return rejection_of_raw(encode(event))


def assert_rejected(event: dict[str, Any], path: str, *rule: str) -> None:
    """``event`` is rejected at exactly ``path`` with a message containing every fragment of ``rule``."""
    error = rejection(event)
    assert error.path == path, error
    for fragment in rule:
        assert fragment in error.message, error


def value_at(decoded: CatalogEvent, path: str) -> object:
    """The decoded value at a dotted path, as JSON would spell it (UUIDs as strings)."""
    value: object = decoded
    for step in path.split("."):
        value = getattr(value, step)
    return msgspec.to_builtins(value)


def assert_accepted_with(event: dict[str, Any], path: str, value: object) -> None:
    """``event`` passes the catalog and keeps ``value`` at ``path``."""
    assert value_at(accepted(event), path) == value


def event_with(event_name: str, path: str, value: object) -> dict[str, Any]:
    return with_value(valid_event(event_name), path, value)


# --- every event ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("event_name", EVENT_NAMES)
def test_every_catalog_event_with_only_its_required_properties_is_accepted(event_name: str) -> None:
    event = valid_event(event_name)

    decoded = accepted(event)

    assert decoded.name == event_name
    assert decoded.event_category == CATEGORY[event_name]
    assert str(decoded.event_id) == event["event_id"]
    for key, value in REQUIRED_PROPERTIES[event_name].items():
        assert value_at(decoded, f"properties.{key}") == value
    for key in OPTIONAL_PROPERTIES.get(event_name, {}):
        assert getattr(decoded.properties, key) is msgspec.UNSET  # absent, not null


@pytest.mark.parametrize("event_name", EVENT_NAMES)
def test_every_catalog_event_with_all_its_optional_properties_is_accepted(event_name: str) -> None:
    event = valid_event(event_name, with_optional=True)

    decoded = accepted(event)

    assert decoded.name == event_name
    for key, value in event["properties"].items():
        assert value_at(decoded, f"properties.{key}") == value


@pytest.mark.parametrize(
    ("event_name", "key"),
    [
        pytest.param(name, key, id=f"{name}.{key}")
        for name, properties in REQUIRED_PROPERTIES.items()
        for key in properties
    ],
)
def test_an_event_without_one_of_its_required_properties_is_rejected(event_name: str, key: str) -> None:
    assert_rejected(without(valid_event(event_name), f"properties.{key}"), f"properties.{key}", "required")


@pytest.mark.parametrize("event_name", EVENT_NAMES)
def test_an_event_with_empty_properties_is_rejected_since_every_event_has_a_required_property(
    event_name: str,
) -> None:
    first_required = next(iter(REQUIRED_PROPERTIES[event_name]))
    assert_rejected(event_with(event_name, "properties", {}), f"properties.{first_required}", "required")


# --- envelope ------------------------------------------------------------------------------------------------------
ENVELOPE_FIELDS = (
    "event_id",
    "event_name",
    "event_category",
    "user_id",
    "session_id",
    "timestamp",
    "properties",
    "context",
    "privacy",
    "context.device_type",
    "context.platform",
    "context.app_version",
    "context.locale",
    "context.timezone",
    "privacy.consent_given",
    "privacy.ip_anonymized",
)


@pytest.mark.parametrize("path", ENVELOPE_FIELDS)
def test_an_event_without_a_required_envelope_field_is_rejected(path: str) -> None:
    assert_rejected(without(valid_event("post_liked"), path), path, "is required")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        pytest.param("event_id", "not-a-uuid", id="event_id-word"),
        pytest.param("event_id", "", id="event_id-empty"),
        pytest.param("event_id", "7d3f5c1e-2b4a-4c8e-9f10-1a2b3c4d5e6", id="event_id-one-digit-short"),
        pytest.param("event_id", "7d3f5c1e-2b4a-4c8e-9f10-1a2b3c4d5e6g", id="event_id-non-hex-digit"),
        pytest.param("event_id", 42, id="event_id-integer"),
        pytest.param("user_id", "user-42", id="user_id-word"),
        pytest.param("user_id", "", id="user_id-empty"),
        pytest.param("user_id", 42, id="user_id-integer"),
    ],
)
def test_an_event_or_user_id_that_is_not_a_uuid_is_rejected(path: str, value: object) -> None:
    assert_rejected(event_with("post_liked", path, value), path, "UUID")


@pytest.mark.parametrize("path", ["event_id", "user_id"])
def test_an_event_or_user_id_in_upper_case_is_still_a_uuid(path: str) -> None:
    value = str(uuid.uuid4()).upper()

    assert_accepted_with(event_with("post_liked", path, value), path, value.lower())


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("user_signed_up", id="unknown-name"),
        pytest.param("USER_SIGNUP", id="wrong-case"),
        pytest.param("", id="empty"),
        pytest.param(7, id="integer"),
    ],
)
def test_an_event_name_not_in_the_catalog_is_rejected(name: object) -> None:
    assert_rejected(event_with("user_signup", "event_name", name), "event_name", "one of the 25 event names")


@pytest.mark.parametrize("event_name", EVENT_NAMES)
def test_an_event_category_other_than_the_one_of_its_event_name_is_rejected(event_name: str) -> None:
    expected = CATEGORY[event_name]
    wrong = CATEGORIES[(CATEGORIES.index(expected) + 1) % len(CATEGORIES)]

    assert_rejected(
        event_with(event_name, "event_category", wrong), "event_category", f"must be '{expected}'", event_name
    )


@pytest.mark.parametrize("category", ["users", "Wave", ""])
def test_an_event_category_outside_the_five_categories_is_rejected(category: str) -> None:
    assert_rejected(
        event_with("wave_joined", "event_category", category),
        "event_category",
        *(f"'{name}'" for name in CATEGORIES),
    )


@pytest.mark.parametrize(
    "session_id",
    [pytest.param("s", id="1-char"), pytest.param("s" * 128, id="128-chars")],
)
def test_a_session_id_of_1_to_128_characters_is_accepted(session_id: str) -> None:
    assert_accepted_with(event_with("post_liked", "session_id", session_id), "session_id", session_id)


@pytest.mark.parametrize(
    "session_id",
    [pytest.param("", id="empty"), pytest.param("s" * 129, id="129-chars"), pytest.param(12, id="integer")],
)
def test_a_session_id_outside_1_to_128_characters_is_rejected(session_id: object) -> None:
    assert_rejected(event_with("post_liked", "session_id", session_id), "session_id", "string", "1 to 128")


@pytest.mark.parametrize(
    ("timestamp", "instant"),
    [
        pytest.param("2026-05-01T07:30:00Z", datetime(2026, 5, 1, 7, 30, tzinfo=UTC), id="utc-z"),
        pytest.param("2026-05-01T09:30:00+02:00", datetime(2026, 5, 1, 7, 30, tzinfo=UTC), id="plus-2h"),
        pytest.param(
            "2026-05-01T02:00:00.250-05:30", datetime(2026, 5, 1, 7, 30, 0, 250000, tzinfo=UTC), id="minus-5h30-ms"
        ),
    ],
)
def test_a_timestamp_with_an_offset_is_accepted(timestamp: str, instant: datetime) -> None:
    decoded = accepted(event_with("post_liked", "timestamp", timestamp))

    assert decoded.timestamp == instant
    assert decoded.timestamp.utcoffset() is not None


@pytest.mark.parametrize(
    "timestamp",
    [
        pytest.param("2026-05-01T09:30:00", id="no-offset"),
        pytest.param("2026-05-01T09:30:00.250", id="no-offset-ms"),
        pytest.param("2026-05-01", id="date-only"),
        pytest.param("01/05/2026 09:30 +02:00", id="not-rfc3339"),
        pytest.param("", id="empty"),
        pytest.param(1777620600, id="unix-seconds"),
    ],
)
def test_a_timestamp_without_an_offset_or_not_rfc3339_is_rejected(timestamp: object) -> None:
    assert_rejected(event_with("post_liked", "timestamp", timestamp), "timestamp", "RFC 3339", "offset")


# --- context -------------------------------------------------------------------------------------------------------
CONTEXT_ENUMS = {"device_type": ("mobile", "tablet", "desktop"), "platform": ("ios", "android", "web")}


@pytest.mark.parametrize(
    ("key", "value"),
    [pytest.param(key, value, id=f"{key}={value}") for key, values in CONTEXT_ENUMS.items() for value in values],
)
def test_each_device_type_and_platform_of_the_catalog_is_accepted(key: str, value: str) -> None:
    assert_accepted_with(event_with("post_liked", f"context.{key}", value), f"context.{key}", value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param("device_type", "phone", id="device_type=phone"),
        pytest.param("device_type", "Mobile", id="device_type=Mobile"),
        pytest.param("device_type", "", id="device_type-empty"),
        pytest.param("platform", "windows", id="platform=windows"),
        pytest.param("platform", "iOS", id="platform=iOS"),
        pytest.param("platform", None, id="platform-null"),
    ],
)
def test_a_device_type_or_platform_outside_the_catalog_is_rejected(key: str, value: object) -> None:
    assert_rejected(
        event_with("post_liked", f"context.{key}", value),
        f"context.{key}",
        "one of",
        *(f"'{allowed}'" for allowed in CONTEXT_ENUMS[key]),
    )


@pytest.mark.parametrize("app_version", [pytest.param("3", id="1-char"), pytest.param("9" * 32, id="32-chars")])
def test_an_app_version_of_1_to_32_characters_is_accepted(app_version: str) -> None:
    assert_accepted_with(
        event_with("post_liked", "context.app_version", app_version), "context.app_version", app_version
    )


@pytest.mark.parametrize(
    "app_version",
    [pytest.param("", id="empty"), pytest.param("9" * 33, id="33-chars"), pytest.param(3, id="integer")],
)
def test_an_app_version_outside_1_to_32_characters_is_rejected(app_version: object) -> None:
    assert_rejected(
        event_with("post_liked", "context.app_version", app_version), "context.app_version", "string", "1 to 32"
    )


@pytest.mark.parametrize("locale", ["en-US", "de", "zh-Hant-TW", "de-CH-1996", "es-419"])
def test_a_bcp47_locale_is_accepted(locale: str) -> None:
    assert_accepted_with(event_with("post_liked", "context.locale", locale), "context.locale", locale)


@pytest.mark.parametrize(
    "locale",
    [
        pytest.param("en_US", id="underscore"),
        pytest.param("", id="empty"),
        pytest.param("e", id="one-letter-language"),
        pytest.param("en-", id="trailing-hyphen"),
        pytest.param("en--US", id="empty-subtag"),
        pytest.param("12-US", id="digits-in-language"),
        pytest.param("en US", id="space"),
        pytest.param("en-US\n", id="trailing-newline"),
    ],
)
def test_a_locale_that_is_not_a_bcp47_tag_is_rejected(locale: str) -> None:
    assert_rejected(event_with("post_liked", "context.locale", locale), "context.locale", "BCP 47")


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "Europe/Berlin", "America/Argentina/Buenos_Aires", "UTC"])
def test_a_real_iana_time_zone_is_accepted(zone: str) -> None:
    assert_accepted_with(event_with("post_liked", "context.timezone", zone), "context.timezone", zone)


# Debian-like systems put a `localtime` link in /usr/share/zoneinfo; it is no IANA zone and means
# whatever the server's clock is set to, so it must be rejected even where the file exists.


@pytest.mark.parametrize(
    "zone",
    [
        pytest.param("Mars/Olympus", id="Mars-Olympus"),
        pytest.param("europe/berlin", id="wrong-case"),
        pytest.param("Berlin", id="city-only"),
        pytest.param("+02:00", id="offset"),
        pytest.param("localtime", id="localtime"),
    ],
)
def test_a_time_zone_that_is_not_a_real_iana_zone_is_rejected(zone: str) -> None:
    assert_rejected(event_with("post_liked", "context.timezone", zone), "context.timezone", "IANA", zone)


@pytest.mark.parametrize("zone", [pytest.param("", id="empty"), pytest.param(1, id="integer")])
def test_a_time_zone_that_is_not_a_non_empty_string_is_rejected(zone: object) -> None:
    assert_rejected(event_with("post_liked", "context.timezone", zone), "context.timezone", "string")


# --- privacy -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param(key, value, id=f"{key}={value}")
        for key in ("consent_given", "ip_anonymized")
        for value in (True, False)
    ],
)
def test_a_privacy_flag_that_is_a_boolean_is_accepted(key: str, value: bool) -> None:
    assert_accepted_with(event_with("post_liked", f"privacy.{key}", value), f"privacy.{key}", value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param(key, value, id=f"{key}={label}")
        for key in ("consent_given", "ip_anonymized")
        for value, label in (("true", "string-true"), (1, "integer-1"), (0, "integer-0"), (None, "null"))
    ],
)
def test_a_privacy_flag_that_is_not_a_boolean_is_rejected(key: str, value: object) -> None:
    assert_rejected(event_with("post_liked", f"privacy.{key}", value), f"privacy.{key}", "true or false")


# --- unknown keys --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        pytest.param("properties.color", id="in-properties"),
        pytest.param("color", id="in-envelope"),
        pytest.param("context.ip_address", id="in-context"),
        pytest.param("privacy.do_not_track", id="in-privacy"),
    ],
)
def test_a_key_the_catalog_does_not_define_is_rejected(path: str) -> None:
    assert_rejected(event_with("post_created", path, "x"), path, "not a field")


@pytest.mark.parametrize("event_name", EVENT_NAMES)
def test_a_property_of_another_event_is_rejected_as_unknown(event_name: str) -> None:
    foreign = "rating" if event_name != "wave_feedback_submitted" else "round"

    assert_rejected(event_with(event_name, f"properties.{foreign}", 3), f"properties.{foreign}", "not a field")


# --- integer properties --------------------------------------------------------------------------------------------
INT_RANGES = [
    ("activation_round_completed", "round", 1, 8),
    ("activation_mood_logged", "mood", 1, 10),
    ("wave_feedback_submitted", "rating", 1, 5),
    ("activation_round_completed", "duration_seconds", 0, 86400),
    ("activation_completed", "duration_seconds", 0, 86400),
    ("activation_breathwork_completed", "duration_seconds", 0, 86400),
    ("wave_left", "duration_seconds", 0, 86400),
]


@pytest.mark.parametrize(
    ("event_name", "key", "value"),
    [
        pytest.param(name, key, value, id=f"{name}.{key}={value}")
        for name, key, low, high in INT_RANGES
        for value in (low, high)
    ],
)
def test_an_integer_property_at_either_end_of_its_range_is_accepted(event_name: str, key: str, value: int) -> None:
    assert_accepted_with(event_with(event_name, f"properties.{key}", value), f"properties.{key}", value)


@pytest.mark.parametrize(
    ("event_name", "key", "value", "rule"),
    [
        pytest.param(name, key, value, f"between {low} and {high}", id=f"{name}.{key}={value}")
        for name, key, low, high in INT_RANGES
        for value in (low - 1, high + 1)
    ],
)
def test_an_integer_property_just_outside_its_range_is_rejected(
    event_name: str, key: str, value: int, rule: str
) -> None:
    assert_rejected(event_with(event_name, f"properties.{key}", value), f"properties.{key}", rule)


@pytest.mark.parametrize(
    ("event_name", "key", "value", "rule"),
    [
        pytest.param(name, key, value, f"between {low} and {high}", id=f"{name}.{key}={label}")
        for name, key, low, high in INT_RANGES
        for value, label in ((1.0, "float-1.0"), (True, "true"), ("1", "string-1"), (None, "null"))
    ],
)
def test_a_float_boolean_string_or_null_where_an_integer_is_required_is_rejected(
    event_name: str, key: str, value: object, rule: str
) -> None:
    assert_rejected(event_with(event_name, f"properties.{key}", value), f"properties.{key}", "integer", rule)


# --- enum properties -----------------------------------------------------------------------------------------------
ENUMS = [
    ("user_signup", "signup_method", ("email", "apple", "google"), ("Email", "facebook")),
    ("user_login", "method", ("password", "magic_link", "apple", "google", "token_refresh"), ("magic-link", "sso")),
    ("activation_mood_logged", "phase", ("start", "end"), ("middle", "START")),
    ("microact_shared", "audience", ("community", "followers", "wave"), ("public", "")),
    ("post_created", "kind", ("text", "image", "microact"), ("video", "message")),
    ("wave_interaction", "kind", ("message", "reaction", "question"), ("text", "Reaction")),
]


@pytest.mark.parametrize(
    ("event_name", "key", "value"),
    [
        pytest.param(name, key, value, id=f"{name}.{key}={value}")
        for name, key, allowed, _ in ENUMS
        for value in allowed
    ],
)
def test_each_enum_value_of_the_catalog_is_accepted(event_name: str, key: str, value: str) -> None:
    assert_accepted_with(event_with(event_name, f"properties.{key}", value), f"properties.{key}", value)


@pytest.mark.parametrize(
    ("event_name", "key", "value", "allowed"),
    [
        pytest.param(name, key, value, allowed, id=f"{name}.{key}={value!r}")
        for name, key, allowed, rejected in ENUMS
        for value in (*rejected, 1)
    ],
)
def test_an_enum_value_outside_the_catalog_is_rejected(
    event_name: str, key: str, value: object, allowed: tuple[str, ...]
) -> None:
    assert_rejected(
        event_with(event_name, f"properties.{key}", value),
        f"properties.{key}",
        "one of",
        *(f"'{option}'" for option in allowed),
    )


# --- id properties -------------------------------------------------------------------------------------------------
ID_PROPERTIES = [
    ("activation_started", "activation_id"),
    ("activation_round_completed", "activation_id"),
    ("activation_affirmation_selected", "activation_id"),
    ("activation_affirmation_selected", "affirmation_id"),
    ("activation_mood_logged", "activation_id"),
    ("activation_completed", "activation_id"),
    ("activation_breathwork_completed", "activation_id"),
    ("microact_created", "microact_id"),
    ("microact_created", "category"),
    ("microact_updated", "microact_id"),
    ("microact_shared", "microact_id"),
    ("microact_category_selected", "category"),
    ("post_created", "post_id"),
    ("post_liked", "post_id"),
    ("post_commented", "post_id"),
    ("post_commented", "comment_id"),
    ("post_shared", "post_id"),
    ("post_shared", "channel"),
    ("wave_registered", "wave_id"),
    ("wave_joined", "wave_id"),
    ("wave_left", "wave_id"),
    ("wave_interaction", "wave_id"),
    ("wave_microact_shared", "wave_id"),
    ("wave_microact_shared", "microact_id"),
    ("wave_feedback_submitted", "wave_id"),
]


@pytest.mark.parametrize(
    ("event_name", "key", "value"),
    [
        pytest.param(name, key, "i" * length, id=f"{name}.{key}-{length}-chars")
        for name, key in ID_PROPERTIES
        for length in (1, 64)
    ],
)
def test_an_id_of_1_to_64_characters_is_accepted(event_name: str, key: str, value: str) -> None:
    assert_accepted_with(event_with(event_name, f"properties.{key}", value), f"properties.{key}", value)


@pytest.mark.parametrize(
    ("event_name", "key", "value"),
    [
        pytest.param(name, key, value, id=f"{name}.{key}-{label}")
        for name, key in ID_PROPERTIES
        for value, label in (("", "empty"), ("i" * 65, "65-chars"), (42, "integer"), (None, "null"))
    ],
)
def test_an_id_that_is_not_a_string_of_1_to_64_characters_is_rejected(event_name: str, key: str, value: object) -> None:
    assert_rejected(event_with(event_name, f"properties.{key}", value), f"properties.{key}", "string", "1 to 64")


# --- optional free-text properties ---------------------------------------------------------------------------------
MAX_LENGTHS = [
    ("user_signup", "referral_code", 32),
    ("activation_breathwork_completed", "pattern", 32),
    ("wave_feedback_submitted", "comment", 2000),
]


@pytest.mark.parametrize(
    ("event_name", "key", "value"),
    [pytest.param(name, key, "é" * limit, id=f"{name}.{key}-{limit}-chars") for name, key, limit in MAX_LENGTHS],
)
def test_an_optional_string_at_its_maximum_length_in_characters_is_accepted(
    event_name: str, key: str, value: str
) -> None:
    assert_accepted_with(event_with(event_name, f"properties.{key}", value), f"properties.{key}", value)


@pytest.mark.parametrize(
    ("event_name", "key", "value", "limit"),
    [
        pytest.param(name, key, value, limit, id=f"{name}.{key}-{label}")
        for name, key, limit in MAX_LENGTHS
        for value, label in (("x" * (limit + 1), f"{limit + 1}-chars"), (5, "integer"))
    ],
)
def test_an_optional_string_over_its_maximum_length_or_not_a_string_is_rejected(
    event_name: str, key: str, value: object, limit: int
) -> None:
    assert_rejected(event_with(event_name, f"properties.{key}", value), f"properties.{key}", f"at most {limit}")


# --- field-name lists ----------------------------------------------------------------------------------------------
FIELD_LIST_EVENTS = ("user_profile_update", "microact_updated")


@pytest.mark.parametrize(
    ("event_name", "count"),
    [pytest.param(name, count, id=f"{name}-{count}-items") for name in FIELD_LIST_EVENTS for count in (1, 20)],
)
def test_a_list_of_1_to_20_field_names_is_accepted(event_name: str, count: int) -> None:
    fields = [f"field_{n}" for n in range(count)]

    assert_accepted_with(event_with(event_name, "properties.fields", fields), "properties.fields", fields)


@pytest.mark.parametrize(
    ("event_name", "fields"),
    [
        pytest.param(name, fields, id=f"{name}-{label}")
        for name in FIELD_LIST_EVENTS
        for fields, label in (
            ([], "0-items"),
            ([f"field_{n}" for n in range(21)], "21-items"),
            ("display_name", "a-string"),
        )
    ],
)
def test_a_field_list_that_is_empty_longer_than_20_or_not_a_list_is_rejected(event_name: str, fields: object) -> None:
    assert_rejected(event_with(event_name, "properties.fields", fields), "properties.fields", "list", "1 to 20")


@pytest.mark.parametrize(
    ("event_name", "name"),
    [
        pytest.param(event, name, id=f"{event}-{label}")
        for event in FIELD_LIST_EVENTS
        for name, label in (("", "empty-name"), ("f" * 65, "65-char-name"), (7, "integer-name"))
    ],
)
def test_a_field_name_that_is_not_a_string_of_1_to_64_characters_is_rejected(event_name: str, name: object) -> None:
    assert_rejected(
        event_with(event_name, "properties.fields", ["title", name]), "properties.fields[1]", "string", "1 to 64"
    )


# --- consent flags -------------------------------------------------------------------------------------------------
CONSENT_PURPOSES = ("analytics", "personalization", "marketing", "location")


@pytest.mark.parametrize(
    ("key", "value"),
    [pytest.param(key, value, id=f"{key}={value}") for key in CONSENT_PURPOSES for value in (True, False)],
)
def test_a_consent_purpose_given_as_a_boolean_is_accepted(key: str, value: bool) -> None:
    assert_accepted_with(event_with("user_consent_update", f"properties.{key}", value), f"properties.{key}", value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param(key, value, id=f"{key}={label}")
        for key in CONSENT_PURPOSES
        for value, label in (("yes", "string"), (1, "integer"), (None, "null"))
    ],
)
def test_a_consent_purpose_that_is_not_a_boolean_is_rejected(key: str, value: object) -> None:
    assert_rejected(event_with("user_consent_update", f"properties.{key}", value), f"properties.{key}", "true or false")


# --- user_followed -------------------------------------------------------------------------------------------------
def test_following_another_user_is_accepted() -> None:
    assert_accepted_with(
        event_with("user_followed", "properties.followed_user_id", OTHER_USER_ID),
        "properties.followed_user_id",
        OTHER_USER_ID,
    )


@pytest.mark.parametrize(
    "followed",
    [
        pytest.param(SENDER_ID, id="same-spelling"),
        pytest.param(SENDER_ID.upper(), id="upper-case"),
        pytest.param(SENDER_ID.replace("-", ""), id="without-hyphens"),
    ],
)
def test_following_oneself_is_rejected_however_the_uuid_is_spelled(followed: str) -> None:
    assert_rejected(
        event_with("user_followed", "properties.followed_user_id", followed),
        "properties.followed_user_id",
        "own user_id",
    )


@pytest.mark.parametrize("followed", [pytest.param("user-42", id="word"), pytest.param(42, id="integer")])
def test_a_followed_user_id_that_is_not_a_uuid_is_rejected(followed: object) -> None:
    assert_rejected(
        event_with("user_followed", "properties.followed_user_id", followed), "properties.followed_user_id", "UUID"
    )


# --- encoded size and JSON -----------------------------------------------------------------------------------------
def padded_to(size: int) -> bytes:
    """A valid event padded with JSON whitespace to exactly ``size`` bytes."""
    raw = encode(valid_event("wave_feedback_submitted", with_optional=True))
    assert len(raw) < size
    return raw[:-1] + b" " * (size - len(raw)) + raw[-1:]


def test_an_event_of_exactly_32_kib_encoded_is_accepted() -> None:
    raw = padded_to(32 * 1024)

    assert len(raw) == 32768
    assert decode_event(raw).name == "wave_feedback_submitted"


@pytest.mark.parametrize("size", [pytest.param(32 * 1024 + 1, id="32KiB+1"), pytest.param(64 * 1024, id="64KiB")])
def test_an_event_over_32_kib_encoded_is_rejected(size: int) -> None:
    error = rejection_of_raw(padded_to(size))

    assert error.path == ""
    assert f"{size} bytes" in error.message
    assert "at most 32768" in error.message


def test_the_size_limit_counts_encoded_bytes_not_characters() -> None:
    # 2000 four-byte characters is a valid comment; padding takes the UTF-8 encoding just past 32 KiB.
    event = event_with("wave_feedback_submitted", "properties.comment", "😀" * 2000)
    raw = encode(event)
    over = raw[:-1] + b" " * (32 * 1024 + 1 - len(raw)) + raw[-1:]
    assert len(over.decode()) < 32 * 1024

    error = rejection_of_raw(over)

    assert error.path == ""
    assert "at most 32768" in error.message


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty-body"),
        pytest.param(b"not json", id="plain-text"),
        pytest.param(b'{"event_id": ', id="truncated"),
        pytest.param(b"{'event_name': 'post_liked'}", id="single-quotes"),
        pytest.param(encode(valid_event("post_liked")) + b"}", id="trailing-garbage"),
        pytest.param(encode(valid_event("post_liked")).replace(b"sess-2026", b"sess-\xff\xfe"), id="invalid-utf8"),
    ],
)
def test_a_body_that_is_not_json_is_rejected(raw: bytes) -> None:
    error = rejection_of_raw(raw)

    assert error.path == ""
    assert "not valid JSON" in error.message


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"[]", id="array"),
        pytest.param(b"null", id="null"),
        pytest.param(b'"post_liked"', id="string"),
        pytest.param(b"42", id="number"),
    ],
)
def test_json_that_is_not_an_object_is_rejected(raw: bytes) -> None:
    error = rejection_of_raw(raw)

    assert error.path == ""
    assert "object" in error.message


# --- timing --------------------------------------------------------------------------------------------------------
RECEIVED_AT = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
KOLKATA = timezone(timedelta(hours=5, minutes=30))


@pytest.mark.parametrize(
    ("device_offset", "timestamp_before_send"),
    [
        pytest.param(timedelta(hours=-2), timedelta(minutes=10), id="device-2h-behind"),
        pytest.param(timedelta(hours=1), timedelta(minutes=1), id="device-1h-ahead"),
        pytest.param(timedelta(days=-40), timedelta(hours=3), id="device-40-days-behind"),
        pytest.param(timedelta(0), timedelta(seconds=30), id="device-on-time"),
    ],
)
def test_the_timestamp_is_corrected_by_received_at_minus_sent_at(
    device_offset: timedelta, timestamp_before_send: timedelta
) -> None:
    sent_at = RECEIVED_AT + device_offset
    timestamp = sent_at - timestamp_before_send

    timing = place_in_time(timestamp, received_at=RECEIVED_AT, sent_at=sent_at)

    assert timing.occurred_at == RECEIVED_AT - timestamp_before_send
    assert timing.clock_skew_seconds == -device_offset.total_seconds()


def test_without_sent_at_the_timestamp_is_taken_as_is() -> None:
    timestamp = RECEIVED_AT - timedelta(minutes=7)

    timing = place_in_time(timestamp, received_at=RECEIVED_AT, sent_at=None)

    assert timing.occurred_at == timestamp
    assert timing.clock_skew_seconds == 0


@pytest.mark.parametrize(
    ("timestamp", "sent_at"),
    [
        pytest.param(RECEIVED_AT + timedelta(minutes=5), None, id="5min-ahead"),
        pytest.param(
            RECEIVED_AT + timedelta(hours=1, minutes=5), RECEIVED_AT + timedelta(hours=1), id="5min-after-fix"
        ),
        pytest.param((RECEIVED_AT + timedelta(minutes=5)).astimezone(KOLKATA), None, id="5min-ahead-in-+05:30"),
    ],
)
def test_a_timestamp_exactly_5_minutes_in_the_future_after_correction_is_accepted(
    timestamp: datetime, sent_at: datetime | None
) -> None:
    timing = place_in_time(timestamp, received_at=RECEIVED_AT, sent_at=sent_at)

    assert timing.occurred_at == RECEIVED_AT + timedelta(minutes=5)
    assert timing.late is False


@pytest.mark.parametrize(
    ("timestamp", "sent_at"),
    [
        pytest.param(RECEIVED_AT + timedelta(minutes=5, seconds=1), None, id="5min1s-ahead"),
        pytest.param(RECEIVED_AT + timedelta(days=1), None, id="1-day-ahead"),
        # Device clock 1 h behind: the raw timestamp looks like "now", the corrected one is 1 h ahead.
        pytest.param(RECEIVED_AT, RECEIVED_AT - timedelta(hours=1), id="now-on-a-clock-1h-behind"),
    ],
)
def test_a_timestamp_more_than_5_minutes_in_the_future_after_correction_is_rejected(
    timestamp: datetime, sent_at: datetime | None
) -> None:
    with pytest.raises(EventRejected) as rejected:
        place_in_time(timestamp, received_at=RECEIVED_AT, sent_at=sent_at)

    [error] = rejected.value.errors
    assert error.path == "timestamp"
    assert "5 minutes in the future" in error.message


@pytest.mark.parametrize(
    ("timestamp", "sent_at"),
    [
        pytest.param(RECEIVED_AT - timedelta(days=30, seconds=1), None, id="30-days-1s-old"),
        pytest.param(RECEIVED_AT - timedelta(days=365), None, id="a-year-old"),
        # Device clock 1 h ahead: the raw timestamp is just within 30 days, the corrected one is not.
        pytest.param(
            RECEIVED_AT - timedelta(days=30) + timedelta(minutes=30),
            RECEIVED_AT + timedelta(hours=1),
            id="29d23h30m-on-a-clock-1h-ahead",
        ),
    ],
)
def test_a_timestamp_older_than_30_days_after_correction_is_rejected(
    timestamp: datetime, sent_at: datetime | None
) -> None:
    with pytest.raises(EventRejected) as rejected:
        place_in_time(timestamp, received_at=RECEIVED_AT, sent_at=sent_at)

    [error] = rejected.value.errors
    assert error.path == "timestamp"
    assert "older than 30 days" in error.message


@pytest.mark.parametrize(
    "age",
    [
        pytest.param(timedelta(hours=24, seconds=1), id="24h1s"),
        pytest.param(timedelta(days=3), id="3-days"),
        pytest.param(timedelta(days=30), id="exactly-30-days"),
    ],
)
def test_a_timestamp_older_than_24_hours_is_accepted_and_flagged_late(age: timedelta) -> None:
    timing = place_in_time(RECEIVED_AT - age, received_at=RECEIVED_AT, sent_at=None)

    assert timing.occurred_at == RECEIVED_AT - age
    assert timing.late is True


@pytest.mark.parametrize(
    ("timestamp", "sent_at"),
    [
        pytest.param(RECEIVED_AT - timedelta(hours=23), None, id="23h"),
        pytest.param(RECEIVED_AT - timedelta(hours=24), None, id="exactly-24h"),
        pytest.param((RECEIVED_AT - timedelta(hours=23)).astimezone(KOLKATA), None, id="23h-in-+05:30"),
        # Device clock 2 h behind: the raw timestamp is 25 h old, the corrected one 23 h.
        pytest.param(
            RECEIVED_AT - timedelta(hours=25), RECEIVED_AT - timedelta(hours=2), id="25h-on-a-clock-2h-behind"
        ),
    ],
)
def test_a_timestamp_at_most_24_hours_old_after_correction_is_not_late(
    timestamp: datetime, sent_at: datetime | None
) -> None:
    timing = place_in_time(timestamp, received_at=RECEIVED_AT, sent_at=sent_at)

    assert timing.late is False
    assert RECEIVED_AT - timing.occurred_at <= timedelta(hours=24)


@pytest.mark.parametrize(
    ("event_name", "key"),
    [
        ("user_signup", "referral_code"),
        ("activation_breathwork_completed", "pattern"),
        ("wave_feedback_submitted", "comment"),
    ],
)
def test_an_optional_property_sent_as_null_is_rejected(event_name: str, key: str) -> None:
    # Optional means the key may be absent; when present it must be a string.
    assert_rejected(event_with(event_name, f"properties.{key}", None), f"properties.{key}", "string", "got null")


def _missing(raw: bytes) -> tuple[str, str] | None:
    try:
        decode_event(raw)
    except EventRejected as e:
        return missing_field(raw, e.errors)
    return None


def test_a_missing_or_null_required_field_is_named_with_its_catalog_event_and_nothing_else_is() -> None:
    user = uuid.uuid4()
    assert _missing(event("wave_joined", user, {})) == ("wave_joined", "properties.wave_id")
    assert _missing(event("wave_joined", user, {"wave_id": None})) == ("wave_joined", "properties.wave_id")
    nameless = msgspec.json.decode(event("wave_joined", user, {"wave_id": "w"}))
    del nameless["event_name"]
    assert _missing(msgspec.json.encode(nameless)) == ("unknown", "event_name")
    assert _missing(event("wave_joined", user, {"wave_id": 3})) is None  # a wrong type, not a missing field
    unknown = msgspec.json.decode(event("wave_joined", user, {}))
    unknown["event_name"] = "no_such_event"
    assert _missing(msgspec.json.encode(unknown)) is None
    assert _missing(event("wave_joined", user, {"wave_id": "w"})) is None
