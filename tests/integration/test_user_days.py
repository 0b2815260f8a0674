"""Per-person days on SQLite and PostgreSQL, against a plain count of the events that were sent."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import date, timedelta

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from application.principals import Principal
from entrypoints.bootstrap import Container
from tests.conftest import FIXED_NOW
from tests.fakes import consent, event

SERVICE = Principal(subject="tests", role="service")


def send(container: Container, *raw: bytes) -> None:
    report = container.ingestion.ingest(list(raw), sent_at=None, principal=SERVICE)
    assert report.accepted == len(raw), report


NOW = FIXED_NOW - timedelta(minutes=1)


@pytest.fixture
def container(clocked_container: Container) -> Container:
    """On a fixed clock: the days these tests close and count do not move with the time of day."""
    return clocked_container


KINDS = {
    "microact_created": {"microact_id": "m", "category": "kindness"},
    "post_liked": {"post_id": "p"},
    "wave_joined": {"wave_id": "w"},
    "wave_left": {"wave_id": "w", "duration_seconds": 90},
    "activation_completed": {"activation_id": "a", "duration_seconds": 600},
    "wave_feedback_submitted": {"wave_id": "w", "rating": 4},
}
# The per-day metric each kind counts towards, as docs/metrics.md's table names it (wave_left counts none).
COUNTS_TOWARDS = {
    "microact_created": "microacts_created",
    "post_liked": "likes_given",
    "wave_joined": "waves_joined",
    "activation_completed": "activations_completed",
    "wave_feedback_submitted": "feedback_given",
}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    plan=st.lists(
        st.tuples(st.sampled_from(sorted(KINDS)), st.integers(0, 20), st.integers(0, 2)), min_size=1, max_size=25
    )
)
def test_each_persons_day_counts_what_they_did(container: Container, plan: list[tuple[str, int, int]]) -> None:
    people = [uuid.uuid4() for _ in range(3)]
    signed_up = NOW - timedelta(days=21)
    expected: Counter[tuple[int, date, str]] = Counter()
    for who, person in enumerate(people):
        send(container, consent(person, analytics=True, at=signed_up))
        expected[(who, signed_up.date(), "events")] += 1
    for name, days_ago, who in plan:
        at = NOW - timedelta(days=days_ago)
        send(container, event(name, people[who], KINDS[name], at=at))
        expected[(who, at.date(), "events")] += 1
        if name in COUNTS_TOWARDS:
            expected[(who, at.date(), COUNTS_TOWARDS[name])] += 1
        if name == "wave_left":
            expected[(who, at.date(), "wave_seconds")] += 90
        if name == "wave_feedback_submitted":
            expected[(who, at.date(), "feedback_rating_sum")] += 4
    container.user_days.catch_up()

    found: Counter[tuple[int, date, str]] = Counter()
    for who, person in enumerate(people):
        subject = container.keys.subject_for(person, create=False)
        assert subject is not None
        for day in container.user_days.days_of(subject, (NOW - timedelta(days=30)).date(), NOW.date()):
            for metric, n in day.counts.items():
                found[(who, day.day, metric)] += n
    assert found == expected


def test_active_people_counts_each_person_once_per_span(container: Container) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    send(container, consent(a, analytics=True, at=NOW - timedelta(days=10)), consent(b, analytics=True, at=NOW))
    send(container, event("post_liked", a, {"post_id": "p"}, at=NOW - timedelta(days=3)))
    send(container, event("post_liked", a, {"post_id": "q"}, at=NOW - timedelta(days=2)))
    container.user_days.catch_up()
    week = ((NOW - timedelta(days=6)).date(), NOW.date())
    assert container.user_days.active_people(*week) == 2
    assert container.user_days.active_people(NOW.date(), NOW.date()) == 1
    assert container.user_days.active_people((NOW - timedelta(days=30)).date(), (NOW - timedelta(days=9)).date()) == 1


def test_moods_are_kept_per_day_and_erasure_deletes_the_persons_days(container: Container) -> None:
    person = uuid.uuid4()
    container.ingestion.ingest(
        [
            consent(person, analytics=True, at=NOW),
            event("activation_mood_logged", person, {"activation_id": "a", "phase": "start", "mood": 4}, at=NOW),
            event("activation_mood_logged", person, {"activation_id": "a", "phase": "end", "mood": 8}, at=NOW),
        ],
        sent_at=None,
        principal=SERVICE,
    )
    container.user_days.catch_up()
    subject = container.keys.subject_for(person, create=False)
    assert subject is not None
    (day,) = container.user_days.days_of(subject, NOW.date(), NOW.date())
    assert (day.moods_start, day.moods_end, day.counts["events"]) == ((4,), (8,), 3)
    container.erasure.erase(person, requested_by="test")
    container.user_days.catch_up()
    assert container.user_days.days_of(subject, NOW.date(), NOW.date()) == []
    container.user_days.rebuild()
    assert container.user_days.days_of(subject, NOW.date(), NOW.date()) == []


def test_the_one_query_reads_of_a_person_agree_with_days_of_and_indices_of(container: Container) -> None:
    person, other = uuid.uuid4(), uuid.uuid4()
    start = NOW - timedelta(days=20)
    send(container, consent(person, analytics=True, at=start), consent(other, analytics=True, at=start))
    mood = {"activation_id": "a", "phase": "start", "mood": 6}
    for days_ago in (15, 9, 4, 3, 0):
        at = NOW - timedelta(days=days_ago)
        send(container, event("post_liked", person, {"post_id": f"p{days_ago}"}, at=at))
        if days_ago in (9, 3):
            send(container, event("activation_mood_logged", person, mood, at=at))
    send(container, event("post_liked", other, {"post_id": "x"}, at=NOW - timedelta(days=5)))
    container.user_days.catch_up()
    subject = container.keys.subject_for(person, create=False)
    assert subject is not None
    view = container.user_days_view
    first, last = (NOW - timedelta(days=10)).date(), (NOW - timedelta(days=3)).date()

    days, active = view.activity_of(subject, first, last)
    assert days == view.days_of(subject, first, last)
    assert [d.day for d in days] == [(NOW - timedelta(days=n)).date() for n in (9, 4, 3)]
    assert active == [d.day for d in view.days_of(subject, date.min, last) if d.counts.get("events")]
    assert active[0] == start.date()  # before ``first`` too: the streak and segment need them

    assert view.index_and_days(subject, last, first) == (None, 3)
    view.put_indices(last, {subject: b'{"stored": 1}'})
    assert view.index_and_days(subject, last, first) == (b'{"stored": 1}', 3)
    assert view.index_and_days(subject, last, last) == (b'{"stored": 1}', 1)
    assert view.index_and_days(subject, last - timedelta(days=1), first) == (None, 2)


def _indices(flourish: float, add_value: float) -> bytes:
    return f'{{"flourish": {{"value": {flourish}}}, "add_value": {{"value": {add_value}}}}}'.encode()


def test_a_days_index_summary_is_computed_once_and_never_outlives_a_change_of_its_indices(
    container: Container,
) -> None:
    view, analytics = container.user_days_view, container.analytics
    day = (NOW - timedelta(days=5)).date()
    person = uuid.uuid4()
    send(container, consent(person, analytics=True, at=NOW - timedelta(days=6)))
    container.user_days.catch_up()
    erased = container.keys.subject_for(person, create=False)
    assert erased is not None
    a, b = uuid.uuid4(), uuid.uuid4()

    def people_and_mean() -> tuple[int, float]:
        """As the dashboard counts them, and the mean it keeps (sent only from 5 people on: group_size)."""
        (point,) = analytics.index_dashboard("flourish", day, day).data["series"]
        return point["people"], msgspec.json.decode(view.index_summaries(day, day)[day])["flourish"]["mean"]

    assert analytics.index_dashboard("flourish", day, day).data["series"] == []
    view.put_indices(day, {a: _indices(10, 1), b: _indices(30, 3)})
    assert people_and_mean() == (2, 20)
    assert msgspec.json.decode(view.index_summaries(day, day)[day])["add_value"]["mean"] == 2
    view.put_indices(day, {erased: _indices(50, 5)})  # a rerun of the job: the kept summary is no longer current
    assert view.index_summaries(day, day) == {}
    assert people_and_mean() == (3, 30)

    # A summary computed from indices that changed meanwhile is not kept.
    version, raws = view.indices_with_version(day)
    assert len(raws) == 3
    view.put_indices(day, {a: _indices(20, 2)})
    assert view.put_index_summary(day, version, b'{"stale": true}') is False
    assert people_and_mean() == (3, 100 / 3)

    # Erasing someone with indices that day sums the day up again without them.
    container.erasure.erase(person, requested_by="test")
    container.user_days.catch_up()
    assert view.index_summaries(day, day) == {}
    assert people_and_mean() == (2, 25)
    assert view.put_index_summary(day, 0, b'{"stale": true}') is False
