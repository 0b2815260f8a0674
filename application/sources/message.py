"""Reading one Segment message: the batch's shared fields merged in, guards, and what quarantine may keep.

Pure functions over decoded JSON; :mod:`application.sources.mapping` turns the
result into catalog terms.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

__all__ = ["MAX_DEPTH", "MISSING", "BatchFields", "at", "deeper_than", "merged", "minimized"]

# Catalog events are at most four levels deep; SDK messages a few more.
MAX_DEPTH: Final = 64
MISSING: Final[Any] = object()  # a field that is absent, unlike one that is null
_DEVICE_IDENTIFIERS: Final = frozenset({"id", "advertisingId", "adTrackingEnabled", "token"})


class BatchFields(msgspec.Struct, frozen=True, kw_only=True):
    """What a batch says once for all its messages; Segment merges it into each message."""

    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None
    sent_at: Any = None


def merged(message: dict[str, Any], batch: BatchFields, message_type: str | None) -> dict[str, Any]:
    """The message as Segment reads it: the batch's context, integrations and sentAt under its own."""
    result = {key: value for key, value in message.items() if key != "writeKey"}  # a secret: never kept
    if batch.context is not None:
        result["context"] = _deep_merge(batch.context, result.get("context"))
    if batch.integrations is not None:
        result["integrations"] = _deep_merge(batch.integrations, result.get("integrations"))
    if result.get("sentAt") is None and batch.sent_at is not None:
        result["sentAt"] = batch.sent_at
    if message_type is not None:
        result["type"] = message_type
    return result


def _deep_merge(base: dict[str, Any], override: object) -> object:
    """The batch's value under the message's own: the message wins, key by key."""
    if override is None:
        return base
    if not isinstance(override, dict):
        return override
    merged = dict(base)
    for key, value in override.items():
        below = merged.get(key)
        merged[key] = _deep_merge(below, value) if isinstance(below, dict) else value
    return merged


def minimized(message: dict[str, Any]) -> dict[str, Any]:
    """What quarantine keeps: no trait values and no device or network identifiers.

    Trait values (e-mail, name, ...) are personal data the catalog never keeps;
    anonymousId, device ids, push tokens and the address identify a device,
    which nothing here needs. Trait names stay, to say what was sent.
    """
    kept = {key: value for key, value in message.items() if key != "anonymousId"}
    if isinstance(kept.get("traits"), dict):
        kept["traits"] = dict.fromkeys(kept["traits"])
    context = kept.get("context")
    if isinstance(context, dict):
        context = kept["context"] = {key: value for key, value in context.items() if key != "ip"}
        if isinstance(context.get("traits"), dict):
            context["traits"] = dict.fromkeys(context["traits"])
        if isinstance(context.get("device"), dict):
            context["device"] = {k: v for k, v in context["device"].items() if k not in _DEVICE_IDENTIFIERS}
    return kept


def at(value: object, *keys: str) -> Any:
    """``value[k1][k2]...``, or :data:`MISSING` where a level is absent or not an object."""
    for key in keys:
        if not isinstance(value, dict):
            return MISSING
        value = value.get(key, MISSING)
    return value


def deeper_than(value: object, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests more than ``limit`` levels; without recursion, as it guards the stack."""
    stack = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(current, dict):
            stack.extend((child, depth + 1) for child in current.values())
        elif isinstance(current, list):
            stack.extend((child, depth + 1) for child in current)
    return False
