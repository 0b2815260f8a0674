"""One contract per read-model port, run over its fake (tests/fakes.py), SQLite and PostgreSQL.

A fake that passes here may stand in for the adapter in a unit test; an
adapter that fails here disagrees with the fake, and so with the unit tests.
PostgreSQL runs when ADDVALUE_TEST_POSTGRES_URL is set (see tests/conftest.py).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

import pytest
from eventsourcing.persistence import IntegrityError

from application.read_models.ports import (
    DailyCountsView,
    DayMetrics,
    LiveActivityView,
    LiveChanges,
    UserDaysChanges,
    UserDaysView,
)
from application.reporting.ports import IndexSummaries, PersonReads, RecordedReports
from application.reporting.reports import Reports
from domain.platform import PlatformDay
from entrypoints.bootstrap import Container
from tests.conftest import BACKENDS, POSTGRES_URL
from tests.fakes import FakeDailyCounts, FakeLiveActivity, FakeReports, FakeUserDays

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ANA, BOB, CY = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


class UserDaysPorts(UserDaysView, PersonReads, IndexSummaries, Protocol):
    """The three ports one user-days view serves."""


@dataclass(frozen=True)
class Views:
    daily_counts: DailyCountsView
    live: LiveActivityView
    user_days: UserDaysPorts
    reports: RecordedReports
    close_day: Callable[[date, dict[str, int]], None]  # what the close-day job writes, for ``reports.day``
    reclose_day: Callable[[date, dict[str, int]], None]  # a rerun of close-day after late events


@pytest.fixture(params=["fake", *BACKENDS])
def backend(request: pytest.FixtureRequest) -> str:
    """Overrides tests/conftest.py's: the fakes as well as both databases."""
    if request.param == "postgres" and not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need ADDVALUE_TEST_POSTGRES_URL (set by .ci/run)")
    return str(request.param)


@pytest.fixture
def views(backend: str, request: pytest.FixtureRequest) -> Views:
    if backend == "fake":
        reports = FakeReports()
        return Views(FakeDailyCounts(), FakeLiveActivity(), FakeUserDays(), reports, reports.close, reports.reclose)
    container: Container = request.getfixturevalue("container")

    def close_day(day: date, totals: dict[str, int]) -> None:
        container.store.save(PlatformDay.close(day, totals))

    def reclose_day(day: date, totals: dict[str, int]) -> None:
        closed = Reports(container.store).day(day)
        assert closed is not None
        closed.reclose(totals)
        container.store.save(closed)

    return Views(
        container.daily_counts_view,
        container.live_activity_view,
        container.user_days_view,
        Reports(container.store),
        close_day,
        reclose_day,
    )


def test_daily_counts_add_up_floor_at_closed_counts_read_by_hour_and_reset(views: Views) -> None:
    view = views.daily_counts
    h1, h2 = datetime(2026, 3, 1, 9, tzinfo=UTC), datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert (view.position(), view.counts(), view.hourly(h1, h2)) == (0, {}, {})

    view.add({(D1, "a"): 2, (D2, "b"): 1}, 3, {(h1, "a"): 2})
    # A closing record raises a count to it, never lowers one, adds one it lacks; the events after it add on top.
    closing = ({(D1, "a"): 10, (D2, "b"): 0, (D3, "c"): 2}, {(D1, "a"): 1})
    view.add({(D1, "a"): 1}, 5, {(h1, "a"): 1, (h2, "b"): 4}, [closing])
    assert view.position() == 5
    assert view.counts() == {(D1, "a"): 11, (D2, "b"): 1, (D3, "c"): 2}
    assert view.hourly(h1, h1) == {(h1, "a"): 3}
    assert view.hourly(h1, h2) == {(h1, "a"): 3, (h2, "b"): 4}
    assert view.hourly(h2 + timedelta(hours=1), h2 + timedelta(hours=5)) == {}

    with pytest.raises(IntegrityError):  # a page at a position already recorded changes nothing
        view.add({(D1, "a"): 100}, 5, {(h1, "a"): 100})
    assert view.counts()[(D1, "a")] == 11
    assert view.hourly(h1, h1) == {(h1, "a"): 3}

    view.reset()
    assert (view.position(), view.counts(), view.hourly(h1, h2)) == (0, {}, {})


def test_live_activity_keeps_the_latest_times_forgets_the_erased_and_resets(views: Views) -> None:
    view, today, minute, hour = views.live, NOW.date(), timedelta(minutes=1), timedelta(hours=1)

    def snapshot() -> tuple[int, int, dict[str, int], int]:
        found = view.snapshot(
            NOW, today=today, online_within=5 * minute, activation_window=24 * hour, wave_window=24 * hour
        )
        assert (found.as_of, found.microacts_today) == (NOW, 0)
        return found.daily_active_users, found.online_now, found.wave_participants, found.activations_in_progress

    assert (view.position(), snapshot()) == (0, (0, 0, {}, 0))
    first = LiveChanges(
        active_days={(today, ANA), (today, BOB), (today - timedelta(days=1), CY)},
        last_seen={ANA: NOW - minute, BOB: NOW - 10 * minute},
        waves_joined={("w1", ANA): NOW - 30 * minute, ("w1", BOB): NOW - 20 * minute, ("w2", CY): NOW - 25 * hour},
        waves_left={("w1", BOB): NOW - 10 * minute},
        activations_started={(ANA, "a1"): NOW - hour, (BOB, "a2"): NOW - 2 * hour},
        activations_ended={(BOB, "a2"): NOW - hour},
    )
    view.apply(first, 2)
    assert (view.position(), snapshot()) == (2, (2, 1, {"w1": 1}, 1))

    # Arriving out of order: what happened later wins, an older time never replaces a newer one.
    view.apply(
        LiveChanges(
            last_seen={ANA: NOW - hour, BOB: NOW - 2 * minute},
            waves_joined={("w1", BOB): NOW - 5 * minute},
            waves_left={("w1", ANA): NOW - 40 * minute},
            activations_started={(BOB, "a2"): NOW - 3 * hour},
        ),
        4,
    )
    assert snapshot() == (2, 2, {"w1": 2}, 1)

    view.apply(LiveChanges(erased={ANA}), 6)
    assert snapshot() == (1, 1, {"w1": 1}, 0)
    with pytest.raises(IntegrityError):
        view.apply(LiveChanges(active_days={(today, CY)}), 6)
    assert snapshot() == (1, 1, {"w1": 1}, 0)

    view.reset()
    assert (view.position(), snapshot()) == (0, (0, 0, {}, 0))


def test_user_days_count_per_person_and_day_forget_the_erased_and_reset_keeping_indices(views: Views) -> None:
    view = views.user_days
    counts = {
        (ANA, D1, "events"): 3,
        (ANA, D1, "posts_created"): 1,
        (ANA, D2, "events"): 2,
        (BOB, D2, "events"): 4,
        (BOB, D2, "posts_created"): 2,
        (BOB, D3, "events"): 1,
        (CY, D3, "wave_seconds"): 30,  # no collected event: active on no day
    }
    moods = [(ANA, D1, "start", 3), (ANA, D1, "end", 5), (ANA, D1, "start", 1)]
    view.apply(UserDaysChanges(counts=Counter(counts), moods=moods), 10)
    view.apply(UserDaysChanges(counts=Counter({(ANA, D1, "events"): 2})), 11)  # adds to what is there
    assert view.position() == 11
    assert view.days_of(ANA, D1, D3) == [
        DayMetrics(day=D1, counts={"events": 5, "posts_created": 1}, moods_start=(1, 3), moods_end=(5,)),
        DayMetrics(day=D2, counts={"events": 2}, moods_start=(), moods_end=()),
    ]
    assert [d.day for d in view.days_of(ANA, D2, D3)] == [D2]
    assert (view.active_people(D1, D1), view.active_people(D1, D3)) == (1, 2)
    assert view.people_active(D2, D2) == sorted([ANA, BOB])
    assert view.day_totals(D2) == {"events": 6, "posts_created": 2}
    assert view.people_with("wave_seconds", D3, D3) == 1
    assert [view.new_people(d) for d in (D1, D2, D3)] == [1, 1, 0]
    assert (view.people_with("posts_created", D1, D2), view.people_with("posts_created", D1, D1)) == (2, 1)
    assert (view.first_days(D1), view.first_days(D2)) == ({ANA: D1, BOB: D2}, {BOB: D2})
    assert view.active_days(D1, D3) == {ANA: {D1, D2}, BOB: {D2, D3}}

    view.put_indices(D2, {ANA: b'{"i":1}', BOB: b'{"i":2}'})
    view.put_indices(D2, {ANA: b'{"i":3}'})  # replaces ANA's
    assert (view.indices_of(ANA, D2), view.indices_of(ANA, D1)) == (b'{"i":3}', None)
    assert sorted(view.indices_on(D2)) == [b'{"i":2}', b'{"i":3}']

    with pytest.raises(IntegrityError):
        view.apply(UserDaysChanges(counts=Counter({(BOB, D2, "events"): 100})), 11)
    assert view.day_totals(D2)["events"] == 6

    view.apply(UserDaysChanges(erased={ANA}), 12)
    assert (view.days_of(ANA, D1, D3), view.indices_of(ANA, D2)) == ([], None)
    assert (view.active_people(D1, D3), view.first_days(D1), view.indices_on(D2)) == (1, {BOB: D2}, [b'{"i":2}'])

    view.reset()  # the projection's rows go; the daily-indices job's stay
    assert (view.position(), view.active_people(D1, D3), view.days_of(BOB, D1, D3)) == (0, 0, [])
    assert view.indices_of(BOB, D2) == b'{"i":2}'


def test_person_reads_answer_a_persons_index_days_and_activity_in_one_read(views: Views) -> None:
    reads, view = views.user_days, views.user_days
    counts = {(ANA, D1, "events"): 2, (ANA, D3, "events"): 1, (ANA, D3, "posts_created"): 1, (BOB, D2, "events"): 1}
    view.apply(UserDaysChanges(counts=Counter(counts), moods=[(ANA, D3, "end", 4)]), 1)
    view.put_indices(D3, {ANA: b'{"f":1}'})
    assert reads.index_and_days(ANA, D3, D1) == (b'{"f":1}', 2)
    assert reads.index_and_days(ANA, D3, D2) == (b'{"f":1}', 1)
    assert reads.index_and_days(ANA, D2, D1) == (None, 1)
    assert reads.index_and_days(BOB, D3, D1) == (None, 1)
    day_three = DayMetrics(day=D3, counts={"events": 1, "posts_created": 1}, moods_start=(), moods_end=(4,))
    assert reads.activity_of(ANA, D2, D3) == ([day_three], [D1, D3])  # active days before ``first`` too
    assert reads.activity_of(ANA, D1, D2) == (
        [DayMetrics(day=D1, counts={"events": 2}, moods_start=(), moods_end=())],
        [D1],
    )

    view.apply(UserDaysChanges(erased={ANA}), 2)
    assert (reads.index_and_days(ANA, D3, D1), reads.activity_of(ANA, D1, D3)) == ((None, 0), ([], []))
    assert reads.index_and_days(BOB, D3, D1) == (None, 1)


def test_index_summaries_are_kept_only_while_the_days_indices_are_unchanged(views: Views) -> None:
    summaries, view = views.user_days, views.user_days
    assert summaries.indices_with_version(D1) == (0, [])
    assert summaries.put_index_summary(D2, 0, b'{"empty":true}')  # a day without indices has a summary too
    view.put_indices(D1, {ANA: b'{"i":1}', BOB: b'{"i":2}'})
    version, raws = summaries.indices_with_version(D1)
    assert sorted(raws) == [b'{"i":1}', b'{"i":2}']
    assert summaries.index_summaries(D1, D3) == {D2: b'{"empty":true}'}

    assert summaries.put_index_summary(D1, version, b'{"s":1}')
    assert summaries.index_summaries(D1, D1) == {D1: b'{"s":1}'}
    view.put_indices(D1, {CY: b'{"i":3}'})  # a summary of the older indices is no longer current
    assert summaries.index_summaries(D1, D1) == {}
    assert not summaries.put_index_summary(D1, version, b'{"s":2}')
    assert summaries.index_summaries(D1, D1) == {}
    newer, raws = summaries.indices_with_version(D1)
    assert (newer != version, len(raws)) == (True, 3)
    assert summaries.put_index_summary(D1, newer, b'{"s":3}')
    assert summaries.index_summaries(D1, D3) == {D1: b'{"s":3}', D2: b'{"empty":true}'}

    view.apply(UserDaysChanges(erased={uuid.uuid4()}), 1)  # someone without indices that day: still current
    assert summaries.index_summaries(D1, D1) == {D1: b'{"s":3}'}
    view.apply(UserDaysChanges(erased={ANA}), 2)
    assert summaries.index_summaries(D1, D3) == {D2: b'{"empty":true}'}
    assert len(summaries.indices_with_version(D1)[1]) == 2

    view.put_indices(D2, {BOB: b'{"i":4}'})
    view.reset()  # summaries are the daily-indices job's, like the indices: a rebuild keeps them
    assert summaries.index_summaries(D1, D3) == {}
    latest, _ = summaries.indices_with_version(D1)
    assert summaries.put_index_summary(D1, latest, b'{"s":4}')
    view.reset()
    assert summaries.index_summaries(D1, D3) == {D1: b'{"s":4}'}


def test_reports_are_recorded_merged_by_the_max_rule_and_read_back_with_closed_days(views: Views) -> None:
    reports = views.reports
    assert (reports.get("weekly-summary", "2026-W09"), reports.day(D1)) == (None, None)
    assert reports.record("weekly-summary", "2026-W09", {"a": 2}, {"r": 0.5}) == 1
    assert reports.record("weekly-summary", "2026-W09", {"a": 2}, {"r": 0.5}) == 0  # a rerun that found the same
    assert reports.record("weekly-summary", "2026-W09", {"a": 1, "b": 3}, {"r": 0.25}) == 1
    found = reports.get("weekly-summary", "2026-W09")
    assert found is not None
    assert (found.job, found.period, found.counts, found.derived) == (
        "weekly-summary",
        "2026-W09",
        {"a": 2, "b": 3},  # counts keep the larger value; derived ones are replaced
        {"r": 0.25},
    )
    assert reports.get("weekly-summary", "2026-W10") is None
    assert reports.get("monthly-summary", "2026-W09") is None

    views.close_day(D1, {"events": 5})
    closed = reports.day(D1)
    assert closed is not None
    assert (closed.day, closed.totals, reports.day(D2)) == (D1, {"events": 5}, None)


def test_closed_days_read_at_once_are_what_the_days_read_one_by_one_say(views: Views) -> None:
    reports, week = views.reports, [D1 + timedelta(days=n) for n in range(7)]

    def one_by_one() -> dict[date, tuple[date, dict[str, int], int]]:
        return {d: (c.day, c.totals, c.closures) for d in week if (c := reports.day(d)) is not None}

    def at_once() -> dict[date, tuple[date, dict[str, int], int]]:
        return {d: (c.day, c.totals, c.closures) for d, c in reports.closed_days(week).items()}

    assert at_once() == one_by_one() == {}
    assert reports.closed_days([]) == {}
    views.close_day(D1, {"events": 5})
    views.close_day(D3, {"events": 2, "new_people": 1})
    assert at_once() == one_by_one() == {D1: (D1, {"events": 5}, 1), D3: (D3, {"events": 2, "new_people": 1}, 1)}

    # Closed after that first read (the day shows at the next), and reclosed after late events.
    views.close_day(D2, {"events": 1})
    views.reclose_day(D1, {"events": 7})
    assert at_once() == one_by_one()
    assert at_once()[D1] == (D1, {"events": 7}, 2)
    assert sorted(at_once()) == [D1, D2, D3]
    assert sorted(reports.closed_days([D3, D2 + timedelta(days=30)])) == [D3]
