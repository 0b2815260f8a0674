"""Named rules of the aggregates raise domain errors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from domain.consent import Consent, ConsentChoice
from domain.errors import ConsentRuleBroken, SubjectErased
from domain.session import EventNotInSession, Session
from domain.user import User
from domain.validation import decode_event
from tests.fakes import event

AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_a_consent_change_from_an_unknown_source_is_refused() -> None:
    record = Consent.start(uuid.uuid4())
    with pytest.raises(ConsentRuleBroken, match="source must be one of"):
        record.change(ConsentChoice(analytics=True), effective_at=AT, source="rumour", changed_by="user")


def test_a_consent_change_must_name_who_made_it() -> None:
    record = Consent.start(uuid.uuid4())
    with pytest.raises(ConsentRuleBroken, match="who made it"):
        record.change(ConsentChoice(analytics=True), effective_at=AT, source="api", changed_by=" ")


def test_an_event_of_another_session_cannot_be_recorded_on_this_one() -> None:
    subject, user = uuid.uuid4(), uuid.uuid4()
    session = Session.start(subject, "session-A", AT)
    other = decode_event(event("wave_joined", user, {"wave_id": "w"}, at=AT, session_id="session-B"))
    with pytest.raises(EventNotInSession):
        session.track(other, occurred_at=AT, received_at=AT, late=False, clock_skew_seconds=0.0)


def test_an_erased_user_records_nothing_more() -> None:
    user = User.first_seen(uuid.uuid4(), AT)
    user.erase("test")
    with pytest.raises(SubjectErased):
        user.change_profile_fields(("name",), AT)
    with pytest.raises(SubjectErased):
        user.erase("again")


def test_a_second_signup_keeps_the_first_as_the_cohort_date() -> None:
    user = User.first_seen(uuid.uuid4(), AT)
    user.sign_up("apple", None, AT)
    user.sign_up("email", "FRIEND", AT.replace(day=26))
    assert (user.signup_method, user.signed_up_at) == ("apple", AT)
    assert [type(e).__name__ for e in user.collect_events()] == ["FirstSeen", "SignedUp"]


def test_the_session_tracks_its_first_and_last_event_times() -> None:
    subject, user = uuid.uuid4(), uuid.uuid4()
    session = Session.start(subject, "session-1", AT)
    for hour in (14, 11, 16):
        at = AT.replace(hour=hour)
        tracked = decode_event(event("wave_joined", user, {"wave_id": "w"}, at=at))
        session.track(tracked, occurred_at=at, received_at=at, late=False, clock_skew_seconds=0.0)
    assert (session.started_at.hour, session.last_event_at.hour, session.event_count) == (11, 16, 3)
