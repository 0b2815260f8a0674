"""Segment and RudderStack messages in the catalog's terms.

A Segment-compatible SDK sends ``track``, ``identify``, ``screen``, ``page``,
``alias`` and ``group`` messages under its own field names. :func:`map_message`
turns one message into one of three things: the JSON of a catalog event (which
ingestion then checks exactly as it checks the app's own events), nothing to
record (an ``identify`` that carries only the user id), or the reasons it
cannot be collected, for quarantine. No I/O and no clock: the caller passes the
time of receipt. ``docs/sdk.md`` has the mapping table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from uuid import UUID, uuid5

import msgspec

from application.sources.message import MAX_DEPTH, MISSING, BatchFields, at, deeper_than, merged, minimized
from domain.catalog import CATEGORY_OF, AwareDatetime
from domain.errors import FieldError

__all__ = [
    "MAX_MESSAGE_BYTES",
    "MESSAGE_ID_NAMESPACE",
    "BatchFields",
    "Ignored",
    "Mapped",
    "Unmapped",
    "map_message",
]

MAX_MESSAGE_BYTES: Final = 32 * 1024  # Segment's limit per message, and the catalog's per event
MAX_MESSAGE_ID_CHARS: Final = 100
# Never change it: it is what makes a resent non-UUID messageId the same event id.
# uuid5(NAMESPACE_URL, "https://addvalue.app/ns/segment-message-id")
MESSAGE_ID_NAMESPACE: Final = UUID("d69abbc1-7cff-5de7-a4e5-de2aaf6c5102")

# Segment's mobile SDKs put the OS in context.device.type ('ios', 'android').
_DEVICE_TYPES: Final = {"ios": "mobile", "android": "mobile", "ipados": "tablet"}
_PLATFORMS: Final = {"ipados": "ios", "iphone os": "ios"}
_NO_PRIVACY_CLAIM: Final = {"consent_given": False, "ip_anonymized": False}
# Where each catalog field comes from, so that a rejection names the field the SDK sent.
_SOURCE_PATHS: Final = {
    "event_id": "messageId",
    "event_name": "event",
    "event_category": "event",
    "user_id": "userId",
    "session_id": "context.sessionId",
    "sent_at": "sentAt",
    "context.device_type": "context.device.type",
    "context.platform": "context.os.name",
    "context.app_version": "context.app.version",
    "privacy": "context.privacy",
}
_ANONYMOUS: Final = FieldError(
    "userId", "is required: anonymous messages (anonymousId only) are not collected; identify the user first"
)
_TRAITS_NOT_KEPT: Final = (
    "are not collected: the catalog keeps which profile fields changed, never their values; "
    "send a user_profile_update track event instead"
)
_ID_TRAITS: Final = frozenset({"anonymousId", "userId", "id"})


class Mapped(msgspec.Struct, frozen=True, kw_only=True):
    """A message that is a catalog event: its JSON, and what the clock correction needs."""

    raw: bytes
    message_id: str
    sent_at: datetime | None
    time_field: str  # the message field the event's time was taken from

    def source_path(self, path: str) -> str:
        """The message's own name for the catalog field at ``path`` (``user_id`` → ``userId``)."""
        if path == "timestamp":
            return self.time_field
        for catalog, source in _SOURCE_PATHS.items():
            if path == catalog or path.startswith(catalog + "."):
                return source + path[len(catalog) :]
        return path


class Ignored(msgspec.Struct, frozen=True):
    """Nothing to record: an ``identify`` that carries no more than the user id."""


class Unmapped(msgspec.Struct, frozen=True, kw_only=True):
    """A message the catalog cannot hold, with the reasons and what is needed to quarantine it."""

    raw: bytes
    errors: list[FieldError]
    message_id: str | None
    app_user_id: UUID | None
    is_consent_update: bool


def map_message(
    raw: bytes, *, batch: BatchFields, source: str, received_at: datetime, message_type: str | None = None
) -> Mapped | Ignored | Unmapped:
    """One message of a batch from ``source`` (a configured write key's name)."""
    try:
        decoded = msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return _kept_as_sent(raw, "is not JSON this service can read (malformed, or nested too deeply)")
    if not isinstance(decoded, dict):
        return _kept_as_sent(raw, "must be a JSON object: one Segment message")
    if deeper_than(decoded):
        return _kept_as_sent(raw, f"is nested more than {MAX_DEPTH} levels deep")
    message = merged(decoded, batch, message_type)
    if len(raw) > MAX_MESSAGE_BYTES:
        size = FieldError("", f"message is {len(raw)} bytes; at most {MAX_MESSAGE_BYTES} (32 KiB) allowed")
        return _unmapped(message, [size])
    match message.get("type"):
        case "track":
            return _track(message, source, received_at)
        case "identify":
            return _identify(message)
        case "screen" | "page" | "alias" | "group" as kind:
            why = f"'{kind}' messages are not collected: only track messages named after a catalog event"
            return _unmapped(message, [FieldError("type", why)])
    return _unmapped(message, [FieldError("type", "must be one of track, identify, screen, page, alias, group")])


def _track(message: dict[str, Any], source: str, received_at: datetime) -> Mapped | Unmapped:
    event_id = _event_id(message.get("messageId"), source)
    user_id = _user_id(message)
    name = message.get("event")
    when = _when(message, received_at)
    problems = (event_id, _ANONYMOUS if user_id is None else None, _event_name_problem(name), when)
    errors = [problem for problem in problems if isinstance(problem, FieldError)]
    if errors:
        return _unmapped(message, errors)
    assert isinstance(event_id, UUID)
    assert isinstance(name, str)
    assert isinstance(when, tuple)
    timestamp, sent_at, time_field = when
    context = message.get("context")
    privacy, properties = at(context, "privacy"), message.get("properties")
    event: dict[str, Any] = {
        "event_id": str(event_id),
        "event_name": name,
        "event_category": CATEGORY_OF[name],
        "user_id": user_id,
        "timestamp": timestamp,
        "properties": {} if properties is None else properties,
        "context": _context(context),
        "privacy": _NO_PRIVACY_CLAIM if privacy is MISSING or privacy is None else privacy,
    }
    session = at(context, "sessionId")
    if session is not MISSING:
        # RudderStack's automatic sessions are numbers (milliseconds since the epoch).
        event["session_id"] = str(session) if _is_int(session) else session
    message_id = str(message["messageId"])
    return Mapped(raw=msgspec.json.encode(event), message_id=message_id, sent_at=sent_at, time_field=time_field)


def _event_name_problem(name: object) -> FieldError | None:
    if not isinstance(name, str) or not name:
        return FieldError("event", "is required: the name of a catalog event")
    if name not in CATEGORY_OF:
        return FieldError("event", f"'{name[:100]}' is not an event of the AddValue catalog")
    return None


def _identify(message: dict[str, Any]) -> Ignored | Unmapped:
    errors = []
    user_id = _user_id(message)
    if user_id is None:
        errors.append(_ANONYMOUS)
    elif _uuid(user_id) is None:
        errors.append(FieldError("userId", "must be a UUID string: the app's user id"))
    # Segment sends traits at the top; RudderStack in context.traits, always with the ids.
    for path, traits in (("traits", message.get("traits")), ("context.traits", at(message, "context", "traits"))):
        if traits not in (None, MISSING) and (not isinstance(traits, dict) or traits.keys() - _ID_TRAITS):
            errors.append(FieldError(path, _TRAITS_NOT_KEPT))
    return _unmapped(message, errors) if errors else Ignored()


def _when(message: dict[str, Any], received_at: datetime) -> tuple[Any, datetime | None, str] | FieldError:
    """The device time of the message, and the device clock when sent (for skew correction).

    As Segment does: with ``sentAt``, the device time (``originalTimestamp``,
    else ``timestamp``) is corrected by ``receivedAt - sentAt``. Without it
    there is nothing to correct by, and ``timestamp`` is taken as is.
    """
    sent_value, original, stamped = message.get("sentAt"), message.get("originalTimestamp"), message.get("timestamp")
    if sent_value is None:
        if stamped is not None:
            return stamped, None, "timestamp"
        if original is not None:
            return original, None, "originalTimestamp"
        return received_at.isoformat(), None, "timestamp"  # Segment, too, uses its own clock then
    try:
        sent_at = msgspec.convert(sent_value, AwareDatetime)
    except msgspec.ValidationError:
        return FieldError("sentAt", "must be an RFC 3339 datetime with a UTC offset, e.g. 2026-05-01T09:30:00Z")
    if original is not None:
        return original, sent_at, "originalTimestamp"
    if stamped is not None:
        return stamped, sent_at, "timestamp"
    return sent_value, sent_at, "sentAt"  # no time of its own: it happened when it was sent


def _context(context: object) -> dict[str, Any]:
    mapped: dict[str, Any] = {}
    locale = at(context, "locale")
    for field, value in (
        ("device_type", _normalized(at(context, "device", "type"), _DEVICE_TYPES)),
        ("platform", _normalized(at(context, "os", "name"), _PLATFORMS)),
        ("app_version", at(context, "app", "version")),
        ("locale", locale.replace("_", "-") if isinstance(locale, str) else locale),  # Java spells en_US
        ("timezone", at(context, "timezone")),
    ):
        if value is not MISSING:
            mapped[field] = value
    return mapped


def _event_id(message_id: object, source: str) -> UUID | FieldError:
    text = str(message_id) if _is_int(message_id) else message_id
    if not isinstance(text, str) or not 0 < len(text) <= MAX_MESSAGE_ID_CHARS:
        return FieldError("messageId", "is required: a string of 1 to 100 characters that identifies the message")
    return _uuid(text) or uuid5(MESSAGE_ID_NAMESPACE, f"{source}:{text}")


def _user_id(message: dict[str, Any]) -> Any:
    """``userId`` as sent (Segment allows numbers), or None when the message is anonymous."""
    value = message.get("userId")
    if _is_int(value):
        return str(value)
    return None if value in (None, "") else value


def _unmapped(message: dict[str, Any], errors: list[FieldError]) -> Unmapped:
    message_id = message.get("messageId")
    return Unmapped(
        raw=msgspec.json.encode(minimized(message)),
        errors=errors,
        message_id=str(message_id) if isinstance(message_id, str | int) else None,
        app_user_id=_uuid(_user_id(message)),
        is_consent_update=message.get("type") == "track" and message.get("event") == "user_consent_update",
    )


def _kept_as_sent(raw: bytes, why: str) -> Unmapped:
    return Unmapped(raw=raw, errors=[FieldError("", why)], message_id=None, app_user_id=None, is_consent_update=False)


def _normalized(value: object, table: dict[str, str]) -> object:
    if not isinstance(value, str):
        return value
    return table.get(value.lower(), value.lower())


def _uuid(value: object) -> UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return UUID(value)
    except ValueError:
        return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
