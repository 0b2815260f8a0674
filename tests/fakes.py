"""Small fakes for the ports, and builders of valid catalog events."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from adapters.encryption.mapper import EncryptingMapper
from application.store import AnalyticsStore
from domain.catalog import CATEGORY_OF

IN_MEMORY_ENV = {"PERSISTENCE_MODULE": "adapters.eventstore.in_memory:PopoIngestFactory"}
CONTEXT = {
    "device_type": "mobile",
    "platform": "ios",
    "app_version": "2.4.1",
    "locale": "en-US",
    "timezone": "Europe/Berlin",
}
CONSENT_ALL_OFF = {"analytics": False, "personalization": False, "marketing": False, "location": False}


class FakeKeys:
    """The ``SubjectKeys`` port over dicts."""

    def __init__(self) -> None:
        self.subjects: dict[uuid.UUID, uuid.UUID] = {}
        self.keys: dict[uuid.UUID, bytes] = {}

    def subject_for(self, app_user_id: uuid.UUID, *, create: bool) -> uuid.UUID | None:
        if app_user_id not in self.subjects and create:
            subject = uuid.uuid4()
            self.subjects[app_user_id] = subject
            self.keys[subject] = os.urandom(32)
        return self.subjects.get(app_user_id)

    def subjects_for(self, app_user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        return {u: self.subjects[u] for u in app_user_ids if u in self.subjects}

    def orphan_subject(self) -> uuid.UUID:
        subject = uuid.uuid4()
        self.keys[subject] = os.urandom(32)
        return subject

    def data_key(self, subject_id: uuid.UUID) -> bytes | None:
        return self.keys.get(subject_id)

    def erase(self, subject_id: uuid.UUID) -> bool:
        self.subjects = {u: s for u, s in self.subjects.items() if s != subject_id}
        return self.keys.pop(subject_id, None) is not None

    def count(self) -> int:
        return len(self.keys)


class FixedClock:
    def __init__(self, now: datetime | None = None) -> None:
        self.current = now or datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


def in_memory_store(keys: FakeKeys) -> AnalyticsStore:
    return AnalyticsStore(IN_MEMORY_ENV, lambda: EncryptingMapper(keys))


def event(
    name: str,
    user_id: uuid.UUID,
    properties: dict[str, Any],
    *,
    at: datetime | None = None,
    event_id: uuid.UUID | None = None,
    session_id: str = "session-1",
) -> bytes:
    """A catalog event as the app would send it, encoded."""
    return msgspec.json.encode(
        {
            "event_id": str(event_id or uuid.uuid4()),
            "event_name": name,
            "event_category": CATEGORY_OF[name],
            "user_id": str(user_id),
            "session_id": session_id,
            "timestamp": (at or datetime.now(UTC)).isoformat(),
            "properties": properties,
            "context": CONTEXT,
            "privacy": {"consent_given": True, "ip_anonymized": False},
        }
    )


def consent(user_id: uuid.UUID, *, analytics: bool, at: datetime | None = None, **others: bool) -> bytes:
    return event("user_consent_update", user_id, {**CONSENT_ALL_OFF, "analytics": analytics, **others}, at=at)


def feedback(
    user_id: uuid.UUID, comment: str, *, at: datetime | None = None, event_id: uuid.UUID | None = None
) -> bytes:
    props = {"wave_id": "wave-1", "rating": 5, "comment": comment}
    return event("wave_feedback_submitted", user_id, props, at=at, event_id=event_id)
