"""Named rules of the aggregates raise domain errors."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain.catalog import CatalogEvent
from domain.consent import Consent, ConsentChoice
from domain.errors import ConsentRuleBroken, SubjectErased
from domain.session import EventNotInSession, Session, SessionHead, TrackedEvent
from domain.user import User
from domain.validation import decode_event
from tests.fakes import event

AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def tracked_at(catalog_event: CatalogEvent, at: datetime) -> TrackedEvent:
    return TrackedEvent(event=catalog_event, occurred_at=at, received_at=at, late=False, clock_skew_seconds=0.0)


def session_with_events_at(*minutes: int) -> Session:
    """A session whose events happened at AT + each number of minutes, recorded in that order."""
    user = uuid.uuid4()
    session = Session.start(uuid.uuid4(), "session-1", AT)
    for minute in minutes:
        at = AT + timedelta(minutes=minute)
        session.track([tracked_at(decode_event(event("wave_joined", user, {"wave_id": "w"}, at=at)), at)])
    return session


def spans(session: Session) -> list[tuple[int, int, int]]:
    return [
        (int((p.start - AT).total_seconds() // 60), int((p.end - AT).total_seconds() // 60), p.events)
        for p in session.periods
    ]


def test_activity_periods_end_after_30_minutes_without_an_event() -> None:
    assert spans(session_with_events_at(0, 10, 39, 70, 75)) == [(0, 39, 3), (70, 75, 2)]


def test_an_event_arriving_late_is_placed_by_its_time() -> None:
    assert spans(session_with_events_at(0, 100, 50)) == [(0, 0, 1), (50, 50, 1), (100, 100, 1)]


def test_an_event_that_bridges_two_periods_joins_them() -> None:
    assert spans(session_with_events_at(0, 50, 25)) == [(0, 50, 3)]


def test_a_session_has_ended_once_the_timeout_has_passed_without_events() -> None:
    session = session_with_events_at(0, 10)
    assert session.ended_at(AT + timedelta(minutes=39)) is None
    assert session.ended_at(AT + timedelta(minutes=41)) == AT + timedelta(minutes=10)


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
        session.track([tracked_at(other, AT)])


def test_appending_at_a_sessions_head_records_what_tracking_on_the_loaded_session_would() -> None:
    user = uuid.uuid4()
    session = session_with_events_at(0, 50)
    loaded = copy.deepcopy(session)
    # One bridges the two periods, one starts a third: the periods the head never saw decide the spans.
    later = [
        tracked_at(decode_event(event("wave_joined", user, {"wave_id": "w"}, at=at)), at)
        for at in (AT + timedelta(minutes=25), AT + timedelta(minutes=120))
    ]
    head = SessionHead(session.id, session.subject_id, session.version)  # no history, no periods

    head.track(later, timeout=timedelta(minutes=30))
    loaded.track(later, timeout=timedelta(minutes=30))

    (appended,) = head.collect_events()
    (expected,) = loaded.collect_events()[-1:]
    assert (appended.originator_id, appended.originator_version) == (session.id, session.version + 1)
    assert (appended.events, appended.timeout_seconds, appended.subject_id) == (
        expected.events,
        expected.timeout_seconds,
        expected.subject_id,
    )
    appended.mutate(session)  # replayed, it gives the same session as tracking on the loaded one
    assert (spans(session), session.version) == (spans(loaded), loaded.version)
    assert spans(session) == [(0, 50, 3), (120, 120, 1)]


def test_an_event_of_another_session_cannot_be_appended_at_a_sessions_head() -> None:
    subject, user = uuid.uuid4(), uuid.uuid4()
    head = SessionHead(Session.create_id(subject, "session-A"), subject, 3)
    other = decode_event(event("wave_joined", user, {"wave_id": "w"}, at=AT, session_id="session-B"))
    with pytest.raises(EventNotInSession):
        head.track([tracked_at(other, AT)])
    assert (head.version, head.pending_events) == (3, [])


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
        session.track([tracked_at(tracked, at)])
    assert (session.started_at.hour, session.last_event_at.hour, session.event_count) == (11, 16, 3)
