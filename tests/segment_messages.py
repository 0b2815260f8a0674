"""Builders of Segment messages as the SDKs send them, for the Segment compatibility tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes import CONSENT_ALL_OFF

CONTEXT = {
    "device": {"type": "ios", "model": "iPhone15,2"},
    "os": {"name": "iOS", "version": "17.1"},
    "app": {"version": "2.4.1", "build": "241"},
    "locale": "en-US",
    "timezone": "Europe/Berlin",
    "sessionId": "session-1",
    "library": {"name": "analytics-react-native", "version": "2.20.0"},
}


DEFAULT_USER = "6f1c1f0e-1111-4c4c-8888-123456789abc"


def track(
    event: str | None = "wave_joined",
    properties: dict[str, Any] | None = None,
    *,
    user_id: uuid.UUID | str | None = None,
    at: datetime | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A track message; ``fields`` add or replace message fields (``userId=None`` makes it anonymous)."""
    message = {
        "type": "track",
        "event": event,
        "userId": str(user_id or DEFAULT_USER),
        "anonymousId": "anon-1",
        "messageId": str(uuid.uuid4()),
        "properties": {"wave_id": "w-1"} if properties is None else properties,
        "timestamp": (at or datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "context": CONTEXT,
    }
    return {**message, **fields}


def consent_message(user_id: uuid.UUID | str | None = None, **fields: Any) -> dict[str, Any]:
    """A consent withdrawal: what a write key may send (it is public, so it never grants consent)."""
    return track("user_consent_update", dict(CONSENT_ALL_OFF), user_id=user_id, **fields)
