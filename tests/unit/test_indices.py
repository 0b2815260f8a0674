"""Flourish and Add-Value formulas (docs/metrics.md): named cases, then properties over any days."""

from __future__ import annotations

import math
import re
from datetime import date, timedelta
from typing import Any

import msgspec
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from domain.indices import (
    FORMULA_VERSION,
    WINDOW_DAYS,
    AddValueIndex,
    FlourishIndex,
    IndexInputRejected,
    IndexWeights,
    UserDay,
    add_value,
    flourish,
    streak,
)

ON = date(2026, 11, 25)
# The UserDay fields that each count one event; a day's ``events`` is at least their sum plus its moods.
EVENT_COUNTS = (
    "activations_completed",
    "rounds_completed",
    "microacts_created",
    "microacts_shared",
    "posts_created",
    "likes_given",
    "comments_given",
    "shares_given",
    "follows_given",
    "waves_joined",
    "wave_interactions",
    "wave_microacts_shared",
    "feedback_given",
)
FLOURISH_PARTS = ("mood_score", "microact_score", "community_score", "consistency_score")
ADD_VALUE_PARTS = ("sharing_score", "community_score", "wave_score", "feedback_score")


def ago(n: int) -> date:
    return ON - timedelta(days=n)


def user_day(n: int, *, other_events: int = 0, **fields: Any) -> UserDay:
    """The day ``n`` days before ON; ``events`` counts the given activity plus ``other_events`` (logins, ...)."""
    counted = sum(fields.get(name, 0) for name in EVENT_COUNTS)
    counted += len(fields.get("moods_start", ())) + len(fields.get("moods_end", ()))
    return UserDay(day=ago(n), events=counted + other_events, **fields)


def parts(index: FlourishIndex | AddValueIndex, names: tuple[str, ...]) -> list[float]:
    return [getattr(index, name) for name in names]


def typical_month() -> list[UserDay]:
    """The worked example of docs/metrics.md: 15 active days, the last 5 in a row."""
    activation: dict[str, Any] = {
        "moods_start": (5,),
        "moods_end": (7,),
        "activations_completed": 1,
        "rounds_completed": 4,
    }
    return [
        user_day(0, likes_given=2, comments_given=1, other_events=2, **activation),
        user_day(1, microacts_created=1, microacts_shared=1, likes_given=2, comments_given=1, other_events=2),
        user_day(2, posts_created=1, likes_given=2, comments_given=1, other_events=2, **activation),
        user_day(3, microacts_created=1, microacts_shared=1, likes_given=2, other_events=2),
        user_day(
            4,
            likes_given=2,
            waves_joined=1,
            wave_seconds=1500,
            wave_interactions=3,
            wave_microacts_shared=1,
            feedback_given=1,
            feedback_rating_sum=4,
            other_events=2,
            **activation,
        ),
        # No activity 5 days ago: the streak on ON is 5.
        user_day(6, microacts_created=1, comments_given=1, other_events=2),
        user_day(7, comments_given=1, other_events=2, **activation),
        user_day(8, microacts_created=1, microacts_shared=1, comments_given=1, other_events=2),
        user_day(9, posts_created=1, other_events=2, **activation),
        user_day(10, microacts_created=1, microacts_shared=1, other_events=2),
        user_day(11, waves_joined=1, wave_seconds=1200, wave_interactions=2, other_events=2, **activation),
        user_day(12, microacts_created=1, other_events=2),
        *(user_day(n, other_events=3) for n in (13, 14, 15)),
    ]


# Some days fall after ON or before the window: the formulas must ignore them.
NEAR_ON = st.integers(-3, WINDOW_DAYS + 5)


@st.composite
def user_days(draw: st.DrawFn, offsets: st.SearchStrategy[int] = NEAR_ON) -> UserDay:
    """Any valid day, ``offsets`` days before ON."""
    counts = {name: draw(st.integers(0, 40)) for name in EVENT_COUNTS}
    moods = {phase: tuple(draw(st.lists(st.integers(1, 10), max_size=3))) for phase in ("moods_start", "moods_end")}
    return user_day(
        draw(offsets),
        other_events=draw(st.integers(0, 30)),
        wave_seconds=draw(st.integers(0, 2 * 86400)),
        feedback_rating_sum=draw(st.integers(counts["feedback_given"], 5 * counts["feedback_given"])),
        **counts,
        **moods,
    )


windows = st.lists(user_days(), max_size=WINDOW_DAYS + 8, unique_by=lambda d: d.day)
weights = (
    st.fixed_dictionaries({name: st.floats(0, 10) for name in IndexWeights.__struct_fields__})
    .filter(lambda f: sum(v for k, v in f.items() if k.startswith("flourish_")) > 0)
    .filter(lambda f: sum(v for k, v in f.items() if k.startswith("add_value_")) > 0)
    .map(lambda f: IndexWeights(**f))
)


# -- named cases --------------------------------------------------------------------------------------------------


def test_a_typical_active_user_gets_the_scores_worked_out_in_the_docs() -> None:
    window = typical_month()

    assert flourish(window, ON) == FlourishIndex(
        value=69.4,
        mood_score=61.1,
        microact_score=61.4,
        community_score=86.8,
        consistency_score=73.6,
        formula_version=FORMULA_VERSION,
    )
    assert add_value(window, ON) == AddValueIndex(
        value=62.9,
        sharing_score=50.0,
        community_score=83.5,
        wave_score=73.9,
        feedback_score=29.3,
        formula_version=FORMULA_VERSION,
    )


@pytest.mark.parametrize(
    "window",
    [
        [],
        [UserDay(day=ago(n)) for n in range(WINDOW_DAYS)],
        [user_day(WINDOW_DAYS, microacts_shared=5, moods_end=(9,)), user_day(-1, posts_created=3)],
    ],
    ids=["no days", "days without events", "activity only outside the window"],
)
def test_an_idle_user_scores_zero_everywhere(window: list[UserDay]) -> None:
    assert parts(flourish(window, ON), ("value", *FLOURISH_PARTS)) == [0.0] * 5
    assert parts(add_value(window, ON), ("value", *ADD_VALUE_PARTS)) == [0.0] * 5


def test_a_day_with_only_logins_counts_for_consistency_and_nothing_else() -> None:
    index = flourish([user_day(0, other_events=1)], ON)

    assert (index.mood_score, index.microact_score, index.community_score) == (0.0, 0.0, 0.0)
    assert index.consistency_score == pytest.approx(100 * (0.6 / 20 + 0.4 / 7), abs=0.05)


def test_a_mood_lift_raises_the_mood_score_at_the_same_mood_level() -> None:
    lifted = flourish([user_day(0, moods_start=(4,), moods_end=(6,))], ON)
    dropped = flourish([user_day(0, moods_start=(6,), moods_end=(4,))], ON)
    no_end = flourish([user_day(0, moods_start=(5,))], ON)

    assert lifted.mood_score > no_end.mood_score > dropped.mood_score
    assert no_end.mood_score == pytest.approx(100 * 4 / 9, abs=0.05)


def test_the_top_mood_without_lift_scores_100() -> None:
    assert flourish([user_day(0, moods_start=(10,), moods_end=(10,))], ON).mood_score == 100.0


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ([user_day(0, moods_start=(1,), moods_end=(10, 10, 10)), user_day(1, moods_start=(10,))], 100.0),
        ([user_day(0, moods_start=(10,), moods_end=(1, 1, 1)), user_day(1, moods_start=(1,))], 0.0),
    ],
    ids=["a steep lift at a high level", "a steep drop at a low level"],
)
def test_the_mood_score_is_held_within_0_and_100_at_the_extremes(window: list[UserDay], expected: float) -> None:
    assert flourish(window, ON).mood_score == expected


def test_active_days_beyond_the_target_do_not_make_up_for_a_short_streak() -> None:
    # 27 active days, but none 3 days ago: the active-day share is full, the streak share 3/7.
    window = [user_day(n, other_events=1) for n in range(WINDOW_DAYS) if n != 3]

    assert flourish(window, ON).consistency_score == pytest.approx(60 + 40 * 3 / 7, abs=0.05)


def test_each_activation_day_counts_once_in_the_mood_level() -> None:
    # Three activations at mood 10 on one day and one at mood 1 on another: the level is the mean of the days.
    window = [user_day(0, moods_start=(10, 10, 10)), user_day(1, moods_start=(1,))]

    assert flourish(window, ON).mood_score == pytest.approx(100 * 4.5 / 9, abs=0.05)


def test_activations_rounds_and_ratings_are_kept_but_not_weighed_by_this_version() -> None:
    activation: dict[str, Any] = {"moods_start": (5,), "moods_end": (7,)}
    plain = user_day(0, feedback_given=2, feedback_rating_sum=2, **activation)
    fuller = user_day(
        0, activations_completed=3, rounds_completed=12, feedback_given=2, feedback_rating_sum=10, **activation
    )

    assert flourish([fuller], ON) == flourish([plain], ON)
    assert add_value([fuller], ON) == add_value([plain], ON)


def test_weights_change_the_value_but_not_the_components() -> None:
    window = typical_month()
    moods_only = IndexWeights(flourish_mood=1, flourish_microact=0, flourish_community=0, flourish_consistency=0)
    feedback_only = IndexWeights(add_value_sharing=0, add_value_community=0, add_value_wave=0, add_value_feedback=2)

    default_f, moody = flourish(window, ON), flourish(window, ON, moods_only)
    default_a, feedback = add_value(window, ON), add_value(window, ON, feedback_only)

    assert moody.value == default_f.mood_score != default_f.value
    assert feedback.value == default_a.feedback_score != default_a.value
    assert parts(moody, FLOURISH_PARTS) == parts(default_f, FLOURISH_PARTS)
    assert parts(feedback, ADD_VALUE_PARTS) == parts(default_a, ADD_VALUE_PARTS)


def test_every_result_carries_the_formula_version_and_survives_storage() -> None:
    for index in (flourish(typical_month(), ON), add_value(typical_month(), ON)):
        assert index.formula_version == FORMULA_VERSION == "2026-11.1"
        assert msgspec.json.decode(msgspec.json.encode(index), type=type(index)) == index


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"flourish_mood": -0.1}, "IndexWeights.flourish_mood must be a finite number ≥ 0, got -0.1"),
        ({"add_value_wave": math.nan}, "IndexWeights.add_value_wave must be a finite number ≥ 0, got nan"),
        ({"flourish_community": math.inf}, "IndexWeights.flourish_community must be a finite number ≥ 0, got inf"),
        (
            {"flourish_mood": 0, "flourish_microact": 0, "flourish_community": 0, "flourish_consistency": 0},
            "the flourish_* weights are all 0; give at least one of them a weight above 0",
        ),
        (
            {"add_value_sharing": 0, "add_value_community": 0, "add_value_wave": 0, "add_value_feedback": 0},
            "the add_value_* weights are all 0; give at least one of them a weight above 0",
        ),
    ],
)
def test_invalid_weights_are_rejected_with_a_message_that_says_how_to_fix_them(
    fields: dict[str, float], message: str
) -> None:
    with pytest.raises(IndexInputRejected, match=re.escape(message)):
        IndexWeights(**fields)


def test_invalid_weights_in_configuration_fail_to_decode_with_the_same_message() -> None:
    with pytest.raises(
        msgspec.ValidationError, match=re.escape("IndexWeights.add_value_feedback must be a finite number ≥ 0, got -1")
    ):
        msgspec.convert({"add_value_feedback": -1}, IndexWeights)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"events": 1, "likes_given": -1}, "UserDay.likes_given must be ≥ 0, got -1"),
        ({"events": 1, "moods_end": (11,)}, "moods must be 1-10"),
        ({"events": 2, "posts_created": 2, "moods_start": (5,)}, "at least the 3 its other fields count, got 2"),
        ({"events": 2, "feedback_given": 2, "feedback_rating_sum": 11}, "must sum 2 ratings of 1-5, got 11"),
        ({"events": 1, "feedback_given": 1}, "must sum 1 ratings of 1-5, got 0"),
    ],
)
def test_an_impossible_user_day_is_rejected(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(IndexInputRejected, match=re.escape(message)):
        UserDay(day=ON, **fields)


def test_a_window_with_two_entries_for_one_day_is_rejected() -> None:
    with pytest.raises(IndexInputRejected, match="two UserDays for 2026-11-25; give one per person and day"):
        flourish([user_day(0, other_events=1), user_day(1, other_events=1), user_day(0, likes_given=1)], ON)


@pytest.mark.parametrize(
    ("active", "expected"),
    [
        ([], 0),
        ([0], 1),
        ([0, 1, 2, 3], 4),
        ([0, 1, 3, 4, 5], 2),
        ([1, 2, 3], 3),
        ([2, 3, 4], 0),
        ([-1, -2, 0], 1),
        ([-1, 1, 2], 2),
    ],
    ids=[
        "no activity",
        "only today",
        "four days in a row",
        "a gap breaks it",
        "today without activity yet keeps yesterday's streak",
        "a whole day without activity breaks it",
        "days after the day are ignored",
        "days after the day do not bridge it",
    ],
)
def test_streak_counts_consecutive_active_days(active: list[int], expected: int) -> None:
    assert streak([ago(n) for n in active], ON) == expected


# -- properties ---------------------------------------------------------------------------------------------------


@given(windows, weights)
def test_every_score_stays_within_0_and_100_with_one_decimal(window: list[UserDay], w: IndexWeights) -> None:
    for index, names in ((flourish(window, ON, w), FLOURISH_PARTS), (add_value(window, ON, w), ADD_VALUE_PARTS)):
        for score in parts(index, ("value", *names)):
            assert 0.0 <= score <= 100.0
            assert score == round(score, 1)


@given(windows, weights)
def test_the_value_is_the_weighted_mean_of_the_components(window: list[UserDay], w: IndexWeights) -> None:
    index = flourish(window, ON, w)
    shares = (w.flourish_mood, w.flourish_microact, w.flourish_community, w.flourish_consistency)
    mean = sum(s * c for s, c in zip(shares, parts(index, FLOURISH_PARTS), strict=True)) / sum(shares)

    assert index.value == pytest.approx(mean, abs=0.051)


@given(
    windows,
    st.integers(0, WINDOW_DAYS - 1),
    st.sampled_from((*EVENT_COUNTS, "wave_seconds", "events")),
    st.integers(1, 100),
)
def test_adding_any_activity_never_lowers_any_component(window: list[UserDay], n: int, field: str, more: int) -> None:
    # More of one kind on one day of the window, or a new active day; ``events`` grows with any counted event.
    before = next((d for d in window if d.day == ago(n)), UserDay(day=ago(n)))
    grown = {field: getattr(before, field) + more}
    if field in EVENT_COUNTS:
        grown["events"] = before.events + more
    if field == "feedback_given":
        grown["feedback_rating_sum"] = before.feedback_rating_sum + 3 * more
    after = msgspec.structs.replace(before, **grown)
    bigger = [d for d in window if d.day != after.day] + [after]

    for formula, names in ((flourish, FLOURISH_PARTS), (add_value, ADD_VALUE_PARTS)):
        old, new = parts(formula(window, ON), ("value", *names)), parts(formula(bigger, ON), ("value", *names))
        assert all(o <= g for o, g in zip(old, new, strict=True)), (formula.__name__, field, old, new)


@given(windows, st.data())
def test_a_better_end_mood_never_lowers_the_mood_score(window: list[UserDay], data: st.DataObject) -> None:
    # Drawn from the days that can improve (an end mood below 10), rather than skipping the rest unseen.
    improvable = [d for d in window if d.moods_end and d.moods_end[-1] < 10]
    assume(improvable)
    before = data.draw(st.sampled_from(improvable))
    better = msgspec.structs.replace(before, moods_end=(*before.moods_end[:-1], before.moods_end[-1] + 1))
    bigger = [d for d in window if d.day != before.day] + [better]

    assert flourish(bigger, ON).mood_score >= flourish(window, ON).mood_score


@given(windows, st.randoms(use_true_random=False))
def test_the_same_days_in_any_order_give_the_same_indices(window: list[UserDay], random: Any) -> None:
    shuffled = list(window)
    random.shuffle(shuffled)

    assert flourish(shuffled, ON) == flourish(window, ON)
    assert add_value(shuffled, ON) == add_value(window, ON)


@given(windows, st.lists(user_days(st.integers(WINDOW_DAYS, 400)), max_size=5, unique_by=lambda d: d.day))
def test_days_before_the_window_change_nothing(window: list[UserDay], older: list[UserDay]) -> None:
    recent = [d for d in window if d.day >= ago(WINDOW_DAYS - 1)]

    assert flourish(recent + older, ON) == flourish(recent, ON)
    assert add_value(recent + older, ON) == add_value(recent, ON)


# --- cases found by mutation testing (docs/architecture.md, "Mutation score") ----------------------------------


def test_the_window_holds_the_28_days_up_to_the_day_and_no_earlier_one() -> None:
    # One login day, so consistency is pct(0.6 * 1/20) = 3.0 while it is in the window, and 0 once it is not.
    assert flourish([user_day(WINDOW_DAYS - 1, other_events=1)], ON).consistency_score == 3.0
    assert flourish([user_day(WINDOW_DAYS, other_events=1)], ON).consistency_score == 0.0


@pytest.mark.parametrize("given_kind", ["follows_given", "shares_given", "likes_given"])
def test_follows_shares_and_likes_each_add_one_contribution_point(given_kind: str) -> None:
    day = user_day(0, **{given_kind: 12})
    assert flourish([day], ON).community_score == 50.0  # pct(sat(12, 12)): half at 12
    assert add_value([day], ON).community_score == 56.5  # pct(sat(12, 10)) = pct(1 - 0.5^1.2)


def test_a_streak_beyond_seven_days_earns_no_more_than_the_full_share() -> None:
    # 14 active days in a row: pct(0.6 * 14/20 + 0.4 * min(1, 14/7)) = pct(0.42 + 0.4) = 82.0
    window = [user_day(n, other_events=1) for n in range(14)]
    assert flourish(window, ON).consistency_score == 82.0


def test_a_day_that_counts_fewer_events_than_its_moods_is_refused() -> None:
    with pytest.raises(IndexInputRejected, match="at least the 2 its other fields count, got 1"):
        UserDay(day=ON, events=1, moods_start=(5,), moods_end=(6,))
