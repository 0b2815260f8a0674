"""Synthetic but plausible AddValue activity, sent through the real ingestion use case."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import msgspec

__all__ = ["demo_batches", "demo_user_ids"]

_ZONES = ["Europe/Berlin", "America/New_York", "Europe/London", "Asia/Tokyo", "Australia/Sydney"]
_LOCALES = ["de-DE", "en-US", "en-GB", "ja-JP", "en-AU"]
_CATEGORY = {
    "user": ["user_signup", "user_login", "user_profile_update", "user_consent_update"],
    "activation": [
        "activation_started",
        "activation_round_completed",
        "activation_affirmation_selected",
        "activation_mood_logged",
        "activation_completed",
        "activation_breathwork_completed",
    ],
    "microact": ["microact_created", "microact_updated", "microact_shared", "microact_category_selected"],
    "community": ["post_created", "post_liked", "post_commented", "post_shared", "user_followed"],
    "wave": [
        "wave_registered",
        "wave_joined",
        "wave_left",
        "wave_interaction",
        "wave_microact_shared",
        "wave_feedback_submitted",
    ],
}
_CATEGORY_OF = {name: cat for cat, names in _CATEGORY.items() for name in names}


def demo_user_ids(users: int, seed: int) -> list[uuid.UUID]:
    rng = random.Random(seed)
    return [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(users)]


class _Person:
    def __init__(self, rng: random.Random, user_id: uuid.UUID, everyone: list[uuid.UUID]) -> None:
        self.rng = rng
        self.user_id = user_id
        self.everyone = everyone
        i = rng.randrange(len(_ZONES))
        self.context = {
            "device_type": rng.choice(["mobile", "mobile", "mobile", "tablet"]),
            "platform": rng.choice(["ios", "android"]),
            "app_version": rng.choice(["2.3.0", "2.4.1"]),
            "locale": _LOCALES[i],
            "timezone": _ZONES[i],
        }
        self.engagement = rng.uniform(0.15, 0.9)

    def event(self, name: str, at: datetime, session: str, **properties: Any) -> bytes:
        return msgspec.json.encode(
            {
                "event_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                "event_name": name,
                "event_category": _CATEGORY_OF[name],
                "user_id": str(self.user_id),
                "session_id": session,
                "timestamp": at.isoformat(),
                "properties": properties,
                "context": self.context,
                "privacy": {"consent_given": True, "ip_anonymized": False},
            }
        )

    def first_day(self, at: datetime) -> Iterator[bytes]:
        session = f"s-{self.rng.getrandbits(48):x}"
        consents = self.rng.random() < 0.9  # most people say yes to analytics
        yield self.event(
            "user_consent_update",
            at,
            session,
            analytics=consents,
            personalization=self.rng.random() < 0.6,
            marketing=self.rng.random() < 0.3,
            location=self.rng.random() < 0.4,
        )
        yield self.event(
            "user_signup",
            at + timedelta(seconds=5),
            session,
            signup_method=self.rng.choice(["email", "apple", "google"]),
        )

    def day(self, at: datetime) -> Iterator[bytes]:
        """One day of this person: a login, an Activation Day, and now and then a micro-act, a post, a Wave."""
        rng = self.rng
        day = _Day(self, session=f"s-{rng.getrandbits(48):x}", at=at)
        yield day.event("user_login", day.tick(), method=rng.choice(["password", "magic_link", "token_refresh"]))
        yield from self._activation(day)
        if rng.random() < 0.6:
            yield from self._microact(day)
        if rng.random() < 0.35:
            post = f"post-{rng.getrandbits(32):x}"
            yield day.event("post_created", day.tick(), post_id=post, kind=rng.choice(["text", "image", "microact"]))
            yield day.event("post_liked", day.tick(), post_id=f"post-{rng.getrandbits(16):x}")
        if rng.random() < 0.1:
            other = rng.choice(self.everyone)
            if other != self.user_id:
                yield day.event("user_followed", day.tick(), followed_user_id=str(other))
        if rng.random() < 0.2:
            yield from self._wave(day, wave=f"wave-{at:%Y%m%d}")

    def _activation(self, day: _Day) -> Iterator[bytes]:
        rng = self.rng
        activation = f"act-{rng.getrandbits(32):x}"
        yield day.event("activation_started", day.tick(), activation_id=activation)
        yield day.event(
            "activation_mood_logged", day.tick(), activation_id=activation, phase="start", mood=rng.randint(2, 8)
        )
        rounds = rng.randint(1, 8)
        for r in range(1, rounds + 1):
            yield day.event(
                "activation_round_completed",
                day.tick(120),
                activation_id=activation,
                round=r,
                duration_seconds=rng.randint(30, 240),
            )
        if rng.random() < 0.5:
            yield day.event(
                "activation_affirmation_selected",
                day.tick(),
                activation_id=activation,
                affirmation_id=f"aff-{rng.randint(1, 40)}",
            )
        if rng.random() < 0.4:
            yield day.event(
                "activation_breathwork_completed",
                day.tick(),
                activation_id=activation,
                duration_seconds=rng.randint(60, 600),
                pattern="4-7-8",
            )
        yield day.event(
            "activation_mood_logged", day.tick(), activation_id=activation, phase="end", mood=rng.randint(4, 10)
        )
        yield day.event(
            "activation_completed", day.tick(), activation_id=activation, duration_seconds=rng.randint(300, 1800)
        )

    def _microact(self, day: _Day) -> Iterator[bytes]:
        rng = self.rng
        microact = f"ma-{rng.getrandbits(32):x}"
        category = rng.choice(["kindness", "gratitude", "nature", "connection"])
        yield day.event("microact_category_selected", day.tick(), category=category)
        yield day.event("microact_created", day.tick(), microact_id=microact, category=category)
        if rng.random() < 0.5:
            yield day.event(
                "microact_shared",
                day.tick(),
                microact_id=microact,
                audience=rng.choice(["community", "followers", "wave"]),
            )

    def _wave(self, day: _Day, wave: str) -> Iterator[bytes]:
        rng = self.rng
        yield day.event("wave_joined", day.tick(), wave_id=wave)
        yield day.event(
            "wave_interaction", day.tick(), wave_id=wave, kind=rng.choice(["message", "reaction", "question"])
        )
        yield day.event("wave_left", day.tick(600), wave_id=wave, duration_seconds=rng.randint(120, 1800))
        yield day.event(
            "wave_feedback_submitted",
            day.tick(),
            wave_id=wave,
            rating=rng.randint(3, 5),
            comment="Felt calmer afterwards.",
        )


class _Day:
    """One session of one person's day: each event a few random seconds after the one before."""

    def __init__(self, person: _Person, *, session: str, at: datetime) -> None:
        self._person = person
        self._session = session
        self._at = at

    def tick(self, seconds: int = 30) -> datetime:
        """A few seconds later; called before the event's properties are drawn, so the draws keep their order."""
        self._at += timedelta(seconds=self._person.rng.randint(5, seconds))
        return self._at

    def event(self, name: str, at: datetime, **properties: Any) -> bytes:
        return self._person.event(name, at, self._session, **properties)


def demo_batches(*, users: int, days: int, now: datetime, seed: int = 7) -> Iterator[list[bytes]]:
    """One batch per person per day, oldest first, as the app would send them."""
    rng = random.Random(seed)
    everyone = demo_user_ids(users, seed)
    people = [_Person(random.Random(rng.getrandbits(64)), uid, everyone) for uid in everyone]
    start = now - timedelta(days=days)
    for person in people:
        joined = start + timedelta(days=rng.randrange(max(days // 2, 1)), hours=rng.randint(7, 21))
        yield list(person.first_day(joined))
        day = joined
        while day + timedelta(days=1) < now - timedelta(hours=1):
            day += timedelta(days=1)
            if person.rng.random() < person.engagement:
                yield list(person.day(day))


def example_batch(now: datetime) -> bytes:
    """A batch as the app sends it: a consent update, then an event it allows."""
    person = _Person(random.Random(), uuid.uuid4(), [])
    session = "s-example"
    events = [
        person.event(
            "user_consent_update", now, session, analytics=True, personalization=False, marketing=False, location=False
        ),
        person.event("wave_joined", now, session, wave_id="wave-example"),
    ]
    return msgspec.json.encode({"batch": [msgspec.json.decode(e) for e in events], "sent_at": now.isoformat()})
