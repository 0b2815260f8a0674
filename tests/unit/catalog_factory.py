"""Valid raw events for each of the 25 entries of ``shared/event-catalog.md``.

The tables here are copied from the catalog page, not derived from
``domain.catalog``: if the implementation drifts from the contract, the
tests built on these events notice.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "CATEGORY",
    "EVENT_NAMES",
    "OPTIONAL_PROPERTIES",
    "OTHER_USER_ID",
    "REQUIRED_PROPERTIES",
    "SENDER_ID",
    "encode",
    "valid_event",
    "with_value",
    "without",
]

SENDER_ID: Final = "7d3f5c1e-2b4a-4c8e-9f10-1a2b3c4d5e6f"
"""The ``user_id`` of every event built here."""

OTHER_USER_ID: Final = "0b9e2d7c-5a41-4f3e-8c2d-6e5f4a3b2c1d"
"""Another user, e.g. the one a ``user_followed`` event follows."""

CATEGORY: Final[dict[str, str]] = {
    "user_signup": "user",
    "user_login": "user",
    "user_profile_update": "user",
    "user_consent_update": "user",
    "activation_started": "activation",
    "activation_round_completed": "activation",
    "activation_affirmation_selected": "activation",
    "activation_mood_logged": "activation",
    "activation_completed": "activation",
    "activation_breathwork_completed": "activation",
    "microact_created": "microact",
    "microact_updated": "microact",
    "microact_shared": "microact",
    "microact_category_selected": "microact",
    "post_created": "community",
    "post_liked": "community",
    "post_commented": "community",
    "post_shared": "community",
    "user_followed": "community",
    "wave_registered": "wave",
    "wave_joined": "wave",
    "wave_left": "wave",
    "wave_interaction": "wave",
    "wave_microact_shared": "wave",
    "wave_feedback_submitted": "wave",
}
"""The category of each event name, in the catalog's order."""

EVENT_NAMES: Final[tuple[str, ...]] = tuple(CATEGORY)

REQUIRED_PROPERTIES: Final[dict[str, dict[str, Any]]] = {
    "user_signup": {"signup_method": "email"},
    "user_login": {"method": "password"},
    "user_profile_update": {"fields": ["display_name", "avatar"]},
    "user_consent_update": {"analytics": True, "personalization": False, "marketing": False, "location": True},
    "activation_started": {"activation_id": "act-1"},
    "activation_round_completed": {"activation_id": "act-1", "round": 3, "duration_seconds": 95},
    "activation_affirmation_selected": {"activation_id": "act-1", "affirmation_id": "aff-7"},
    "activation_mood_logged": {"activation_id": "act-1", "phase": "start", "mood": 6},
    "activation_completed": {"activation_id": "act-1", "duration_seconds": 600},
    "activation_breathwork_completed": {"activation_id": "act-1", "duration_seconds": 120},
    "microact_created": {"microact_id": "ma-1", "category": "kindness"},
    "microact_updated": {"microact_id": "ma-1", "fields": ["title"]},
    "microact_shared": {"microact_id": "ma-1", "audience": "followers"},
    "microact_category_selected": {"category": "kindness"},
    "post_created": {"post_id": "post-1", "kind": "text"},
    "post_liked": {"post_id": "post-1"},
    "post_commented": {"post_id": "post-1", "comment_id": "c-9"},
    "post_shared": {"post_id": "post-1", "channel": "whatsapp"},
    "user_followed": {"followed_user_id": OTHER_USER_ID},
    "wave_registered": {"wave_id": "wave-1"},
    "wave_joined": {"wave_id": "wave-1"},
    "wave_left": {"wave_id": "wave-1", "duration_seconds": 1800},
    "wave_interaction": {"wave_id": "wave-1", "kind": "reaction"},
    "wave_microact_shared": {"wave_id": "wave-1", "microact_id": "ma-1"},
    "wave_feedback_submitted": {"wave_id": "wave-1", "rating": 4},
}
"""A valid value for every required property of each event (the keys without ``?``)."""

OPTIONAL_PROPERTIES: Final[dict[str, dict[str, Any]]] = {
    "user_signup": {"referral_code": "FRIEND-2026"},
    "activation_breathwork_completed": {"pattern": "4-7-8"},
    "wave_feedback_submitted": {"comment": "Lovely wave, thank you!"},
}
"""A valid value for every optional property (``?`` in the catalog); events not listed have none."""


def valid_event(event_name: str, *, with_optional: bool = False) -> dict[str, Any]:
    """A raw event that satisfies every rule of the catalog, as the app would send it.

    Each call returns a fresh dict with a fresh ``event_id``; ``with_optional``
    adds every optional property of the event.
    """
    if event_name not in CATEGORY:
        raise KeyError(f"{event_name!r} is not an event of the catalog")
    properties = copy.deepcopy(REQUIRED_PROPERTIES[event_name])
    if with_optional:
        properties.update(copy.deepcopy(OPTIONAL_PROPERTIES.get(event_name, {})))
    return {
        "event_id": str(uuid.uuid4()),
        "event_name": event_name,
        "event_category": CATEGORY[event_name],
        "user_id": SENDER_ID,
        "session_id": "sess-2026-05-01-a",
        "timestamp": "2026-05-01T09:30:00+02:00",
        "properties": properties,
        "context": {
            "device_type": "mobile",
            "platform": "ios",
            "app_version": "3.14.0",
            "locale": "en-US",
            "timezone": "Europe/Berlin",
        },
        "privacy": {"consent_given": True, "ip_anonymized": True},
    }


def encode(event: Mapping[str, Any]) -> bytes:
    """The event as the app puts it on the wire: compact UTF-8 JSON."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


def with_value(event: Mapping[str, Any], path: str, value: object) -> dict[str, Any]:
    """A copy of ``event`` with the field at the dotted ``path`` (e.g. ``properties.round``) set."""
    changed = copy.deepcopy(dict(event))
    *parents, leaf = path.split(".")
    target = changed
    for key in parents:
        target = target[key]
    target[leaf] = value
    return changed


def without(event: Mapping[str, Any], path: str) -> dict[str, Any]:
    """A copy of ``event`` without the field at the dotted ``path``."""
    changed = copy.deepcopy(dict(event))
    *parents, leaf = path.split(".")
    target = changed
    for key in parents:
        target = target[key]
    del target[leaf]
    return changed
