"""Small fakes for the ports (each subclasses its port), and builders of valid catalog events."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from adapters.encryption.mapper import EncryptingMapper
from application.ingest.ports import GeoLookup
from application.ports import Clock, SubjectKeys
from application.privacy.ports import ErasureEntry, ErasureRegister
from application.store import AnalyticsStore
from domain.catalog import CATEGORY_OF
from domain.network import Geo

IN_MEMORY_ENV = {"PERSISTENCE_MODULE": "adapters.eventstore.recorders:PopoIngestFactory"}
CONTEXT = {
    "device_type": "mobile",
    "platform": "ios",
    "app_version": "2.4.1",
    "locale": "en-US",
    "timezone": "Europe/Berlin",
}
CONSENT_ALL_OFF = {"analytics": False, "personalization": False, "marketing": False, "location": False}


class FakeKeys(SubjectKeys):
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


class FakeErasureRegister(ErasureRegister):
    """The ``ErasureRegister`` port over a dict by app user id (the adapter keys it by a keyed hash)."""

    def __init__(self) -> None:
        self.entries: dict[uuid.UUID, ErasureEntry] = {}

    def add(
        self, app_user_id: uuid.UUID, subject_id: uuid.UUID, requested_at: datetime, due_at: datetime
    ) -> ErasureEntry:
        entry = ErasureEntry(requested_at=requested_at, due_at=due_at, completed_at=None, subject_id=subject_id)
        return self.entries.setdefault(app_user_id, entry)

    def find(self, app_user_id: uuid.UUID) -> ErasureEntry | None:
        return self.entries.get(app_user_id)

    def blocked(self, app_user_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        return {u for u in app_user_ids if u in self.entries}

    def due(self, now: datetime) -> list[uuid.UUID]:
        return [
            e.subject_id for e in self.entries.values() if e.subject_id and e.completed_at is None and e.due_at <= now
        ]

    def complete(self, subject_id: uuid.UUID, at: datetime) -> None:
        for user, entry in self.entries.items():
            if entry.subject_id == subject_id:
                self.entries[user] = msgspec.structs.replace(entry, completed_at=at, subject_id=None)


class FixedClock(Clock):
    """The ``Clock`` port at a time the test sets and moves."""

    def __init__(self, now: datetime | None = None) -> None:
        self.current = now or datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


class FakeGeo(GeoLookup):
    """The ``GeoLookup`` port: the same place (or none) for every address, and the addresses asked about."""

    def __init__(self, found: Geo | None = None) -> None:
        self.found = found
        self.asked: list[str] = []

    def lookup(self, anonymized_ip: str) -> Geo | None:
        self.asked.append(anonymized_ip)
        return self.found


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
