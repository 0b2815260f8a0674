"""How an accepted event is recorded on its person's aggregates: Consent, User and Session.

One :class:`Recording` serves one write (``Ingestion.record``): it looks up each
person, their consent and their sessions' event lists once per write, keyed by
the ids' integers (a ``uuid.UUID`` hashes in Python, an int in C), and the
request's place once per request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final
from uuid import UUID

from application.ingest.ports import GeoLookup
from application.ingest.unit_of_work import UnitOfWork
from application.principals import Principal
from domain.catalog import CatalogEvent, UserConsentUpdate, UserProfileUpdate, UserSignup
from domain.consent import Consent, ConsentChoice
from domain.network import Geo
from domain.session import TrackedEvent
from domain.timing import Timing
from domain.user import User

__all__ = ["Recording"]

_NOT_LOOKED_UP: Final = object()
# A batch prepared without a sender (none does today); records before issue 13 say "user" for every app event.
_UNKNOWN_SENDER: Final = "unknown"


class _Person:
    """What a write looked up for one person: their subject, consent and (once needed) User."""

    __slots__ = ("consent", "subject", "user")

    def __init__(self, subject: UUID, consent: Consent) -> None:
        self.subject = subject
        self.consent = consent
        self.user: User | None = None


class Recording:
    """One write's recording of accepted events, request after request."""

    __slots__ = (
        "_geo",
        "_lookup",
        "_network",
        "_people",
        "_received_at",
        "_sender",
        "_sessions",
        "_unit",
    )

    def __init__(self, unit: UnitOfWork, lookup: GeoLookup) -> None:
        self._unit = unit
        self._lookup = lookup
        self._people: dict[int, _Person] = {}
        self._sessions: dict[tuple[int, str], list[TrackedEvent]] = {}
        self._received_at: datetime | None = None
        self._network: str | None = None
        self._sender = _UNKNOWN_SENDER
        self._geo: Geo | object | None = _NOT_LOOKED_UP

    def start_request(self, *, received_at: datetime, network: str | None, sender: Principal | None) -> None:
        """The next events come from this request: its events share one address (looked up once) and sender."""
        self._received_at = received_at
        self._network = network
        self._sender = sender.label if sender is not None else _UNKNOWN_SENDER
        self._geo = _NOT_LOOKED_UP

    def apply(self, event: CatalogEvent, timing: Timing, *, bursting: bool) -> bool:
        """Record the event on its person's aggregates; False when consent says it must not be collected."""
        person = self._person(event)
        if person is None:
            return False  # never consented: no record exists, and none is made
        match event:
            case UserConsentUpdate():
                _change_consent(person.consent, event, timing, changed_by=self._sender)
                # Without analytics consent the update is still kept on the Consent stream, as proof of the choice.
                if not person.consent.allows("analytics"):
                    return True
            case _ if not person.consent.allows("analytics"):
                return False
        _change_user(self._unit, person, event, timing)
        self._track(person, event, timing, bursting=bursting)
        return True

    def _person(self, event: CatalogEvent) -> _Person | None:
        """The sender's subject and consent, looked up once per write; None for someone who never consented."""
        user_key = event.user_id.int
        person = self._people.get(user_key)
        if person is not None:
            return person
        # Those first seen with a consent got their subject before the write began (Ingestion._subjects).
        subject = self._unit.subject_of(event.user_id)
        if subject is None:
            return None
        person = self._people[user_key] = _Person(subject, self._unit.consent(subject))
        return person

    def _track(self, person: _Person, event: CatalogEvent, timing: Timing, *, bursting: bool) -> None:
        """The Session stream: the event, with its timing, flags and (if consented to) the request's place."""
        assert self._received_at is not None, "start_request() comes first"
        session_key = (event.user_id.int, event.session_id)
        tracked = self._sessions.get(session_key)
        if tracked is None:
            tracked = self._sessions[session_key] = self._unit.tracked_events(
                person.subject, event.session_id, timing.occurred_at
            )
        flags = timing.flags
        tracked.append(
            TrackedEvent(
                event=event,
                occurred_at=timing.occurred_at,
                received_at=self._received_at,
                late=timing.late,
                clock_skew_seconds=timing.clock_skew_seconds,
                geo=self._place() if person.consent.allows("location") else None,
                flags=(*flags, "burst") if bursting else flags,
            )
        )

    def _place(self) -> Geo | None:
        if self._geo is _NOT_LOOKED_UP:
            found = None if self._network is None else self._lookup.lookup(self._network)
            self._geo = found
            return found
        return self._geo  # type: ignore[return-value]


def _change_consent(consent: Consent, event: UserConsentUpdate, timing: Timing, *, changed_by: str) -> None:
    """The Consent stream: the app's consent update, effective when it happened, naming who really sent it."""
    p = event.properties
    choice = ConsentChoice(
        analytics=p.analytics, personalization=p.personalization, marketing=p.marketing, location=p.location
    )
    consent.change(
        choice, effective_at=timing.occurred_at, source="app_event", changed_by=changed_by, event_id=event.event_id
    )


def _change_user(unit: UnitOfWork, person: _Person, event: CatalogEvent, timing: Timing) -> None:
    """The User stream: made at the person's first collected event; signups and profile updates recorded on it."""
    user = person.user
    if user is None:
        user = person.user = unit.user(person.subject, timing.occurred_at)
    match event:
        case UserSignup():
            user.sign_up(event.properties.signup_method, event.properties.referral_code or None, timing.occurred_at)
        case UserProfileUpdate():
            user.change_profile_fields(tuple(event.properties.fields), timing.occurred_at)
