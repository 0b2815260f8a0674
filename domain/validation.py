"""Checking one raw event against the catalog, with messages a person can act on.

msgspec checks types, ranges, enums and unknown keys while decoding; it stops at
the first problem and words it for programmers (``Expected `int` <= 8 - at
`$.properties.round```). :func:`decode_event` turns that into the catalog's
words (``properties.round: must be an integer between 1 and 8``) by looking
the field up in the event's schema, then applies the rules msgspec cannot
express: category match, real IANA time zone, no self-follow.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib.resources import files
from typing import Final

import msgspec
from msgspec import inspect as mi

from domain.catalog import CATEGORY_OF, CatalogEvent, UserFollowed
from domain.errors import EventRejected, FieldError

__all__ = ["MAX_EVENT_BYTES", "check_rules", "decode_event", "missing_field"]

MAX_EVENT_BYTES: Final = 32 * 1024

_DECODER: Final = msgspec.json.Decoder(CatalogEvent)
_MSGSPEC_ERROR = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_FIELD_NAMED = re.compile(r"Object (?P<kind>missing required|contains unknown) field `(?P<f>[^`]+)`")
_GOT = re.compile(r"got `(?P<got>\w+)`")
_INDEX = re.compile(r"\[\d+\]")
# The event label of a missing ``event_name``: which catalog event it was meant to be is unknown.
UNKNOWN_EVENT: Final = "unknown"


class _NameOnly(msgspec.Struct):
    event_name: object = None


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    # The IANA zone list of the pinned tzdata package, read once. Not
    # zoneinfo.available_timezones(): that also lists files of the host's own
    # tz folder, such as "localtime", which are not IANA zones.
    return frozenset(files("tzdata").joinpath("zones").read_text().split())


def decode_event(raw: bytes) -> CatalogEvent:
    """Decode one JSON event; raise :class:`EventRejected` naming field and rule."""
    if len(raw) > MAX_EVENT_BYTES:
        raise EventRejected([FieldError("", f"event is {len(raw)} bytes; at most {MAX_EVENT_BYTES} allowed")])
    try:
        event: CatalogEvent = _DECODER.decode(raw)
    except msgspec.ValidationError as e:
        raise EventRejected([_translate(str(e), raw)]) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        raise EventRejected([FieldError("", f"not valid JSON: {e}")]) from None
    errors = check_rules(event)
    if errors:
        raise EventRejected(errors)
    return event


def check_rules(event: CatalogEvent) -> list[FieldError]:
    """The catalog rules that go beyond one field's type."""
    errors = []
    expected = CATEGORY_OF[event.name]
    if event.event_category != expected:
        errors.append(
            FieldError("event_category", f"must be '{expected}' for {event.name}, got '{event.event_category}'")
        )
    if event.context.timezone not in _known_zones():
        errors.append(
            FieldError("context.timezone", f"'{event.context.timezone}' is not an IANA time zone, e.g. Europe/Berlin")
        )
    if isinstance(event, UserFollowed) and event.properties.followed_user_id == event.user_id:
        errors.append(FieldError("properties.followed_user_id", "must not be the sender's own user_id"))
    return errors


def missing_field(raw: bytes, errors: list[FieldError]) -> tuple[str, str] | None:
    """(event name, field) of a rejected event's first required field that is absent or null; else None.

    Both are the catalog's (list positions dropped: ``items[]``), so a metric labelled with them has
    a bounded set of values; a field the named event does not have, or an event the catalog does not
    name, is not counted (a Segment message that mapped to nothing, say).
    """
    for error in errors:
        if error.message != "is required" and not error.message.endswith("got null"):
            continue
        field = _INDEX.sub("[]", error.path)
        if field == "event_name":
            return UNKNOWN_EVENT, field
        name = _name_of(raw)
        if isinstance(name, str) and name in CATEGORY_OF and _type_at(raw, error.path) is not None:
            return name, field
        return None
    return None


def _name_of(raw: bytes) -> object:
    try:
        return msgspec.json.decode(raw, type=_NameOnly).event_name
    except (msgspec.MsgspecError, UnicodeDecodeError):
        return None


def _translate(message: str, raw: bytes) -> FieldError:
    match = _MSGSPEC_ERROR.match(message)
    what = match["what"] if match else message
    path = (match["path"] or "").lstrip(".") if match else ""
    named = _FIELD_NAMED.match(what)
    if named:
        field = f"{path}.{named['f']}" if path else named["f"]
        if named["kind"] == "missing required":
            return FieldError(field, "is required")
        return FieldError(field, "is not a field of this event in the catalog")
    if path == "event_name":
        return FieldError(path, "must be one of the 25 event names of the catalog")
    got = _GOT.search(what)
    suffix = f", got {got['got']}" if got else ""
    if not path and what.startswith("Expected `object`"):
        return FieldError(path, f"must be an object{suffix}")  # the event itself, e.g. a list sent for it
    field_type = _type_at(raw, path)
    if field_type is None:
        return FieldError(path, what)
    return FieldError(path, f"must be {_describe(field_type)}{suffix}")


def _type_at(raw: bytes, path: str) -> mi.Type | None:
    """The schema type of the field at ``path`` of the event named in ``raw``."""
    name = _name_of(raw)
    event_type = next((t for t in CatalogEvent.__args__ if t.__struct_config__.tag == name), None)
    if event_type is None:
        return None
    current: mi.Type = mi.type_info(event_type)
    for step in re.findall(r"[^.\[\]]+", path):
        current = _unwrap(current)
        if isinstance(current, mi.StructType):
            found = next((f.type for f in current.fields if f.encode_name == step), None)
            if found is None:
                return None
            current = found
        elif isinstance(current, mi.ListType) and step.isdigit():
            current = current.item_type
        else:
            return None
    return _unwrap(current)


def _unwrap(t: mi.Type) -> mi.Type:
    if isinstance(t, mi.UnionType):
        others = [u for u in t.types if not isinstance(u, mi.NoneType)]
        if len(others) == 1:
            return others[0]
    return t


def _bounds(low: int | None, high: int | None, unit: str) -> str:
    if low is not None and high is not None:
        return f" of {low} to {high}{unit}"
    if high is not None:
        return f" of at most {high}{unit}"
    if low is not None:
        return f" of at least {low}{unit}"
    return ""


def _describe(t: mi.Type) -> str:
    match t:
        case mi.IntType(ge=ge, le=le) if ge is not None and le is not None:
            return f"an integer between {ge} and {le}"
        case mi.IntType():
            return "an integer"
        case mi.StrType(pattern=pattern) if pattern:
            return "a BCP 47 language tag such as en-US"
        case mi.StrType(min_length=lo, max_length=hi):
            return "a string" + _bounds(lo, hi, " characters")
        case mi.ListType(min_length=lo, max_length=hi):
            return "a list" + _bounds(lo, hi, " items") + " of field names"
        case mi.LiteralType(values=values):
            return "one of " + ", ".join(repr(v) for v in values)
        case mi.BoolType():
            return "true or false"
        case mi.UUIDType():
            return "a UUID string"
        case mi.DateTimeType():
            return "an RFC 3339 datetime with a UTC offset, e.g. 2026-05-01T09:30:00+02:00"
        case mi.StructType():
            return "an object"
    return f"a valid {type(t).__name__.removesuffix('Type').lower()}"
