"""Flourish and Add-Value indices: pure formulas over one person's UTC days.

docs/metrics.md writes every formula out; this module is its executable form.
An index is the weighted mean of its components (each 0-100, one decimal).
Components grow with activity through saturating transforms, so more activity
never lowers one, and they do not depend on the weights. ``FORMULA_VERSION``
names the formulas and their constants, and every result carries it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import date, timedelta
from itertools import pairwise
from typing import Final

import msgspec

from domain.errors import DomainError

__all__ = [
    "DEFAULT_WEIGHTS",
    "FORMULA_VERSION",
    "WINDOW_DAYS",
    "AddValueIndex",
    "FlourishIndex",
    "IndexInputRejected",
    "IndexWeights",
    "UserDay",
    "add_value",
    "flourish",
    "streak",
]

# Change it with any formula or constant below: stored values name the version that made them.
FORMULA_VERSION: Final = "2026-11.1"
WINDOW_DAYS: Final = 28  # four whole weeks, so no weekday counts more often than another
_DAY: Final = timedelta(days=1)

# Half-saturation points: the amount in the window that earns half of a component.
_MICROACT_HALF: Final = 8.0  # about two a week
_COMMUNITY_HALF: Final = 12.0
_SHARING_HALF: Final = 4.0  # about one a week
_CONTRIBUTION_HALF: Final = 10.0
_WAVE_HALF: Final = 8.0
_FEEDBACK_HALF: Final = 2.0
_WAVE_SECONDS_PER_POINT: Final = 600  # ten minutes present in a Wave count like one interaction
_ACTIVE_DAYS_TARGET: Final = 20  # about five days a week earns the full share
_STREAK_TARGET: Final = 7
_LIFT_BONUS: Final = 0.25  # one reading per phase: the day scores as the mood (start + 3 * end) / 4

# Fields of UserDay that each count one collected event; ``events`` is at least their sum.
_EVENT_COUNTS: Final = (
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


class IndexInputRejected(DomainError, ValueError):
    """Weights or days that no formula can use; the message names the field and the fix.

    A ``ValueError`` too, so msgspec reports it as a ``ValidationError`` when
    weights or days are decoded from configuration or storage.
    """


class UserDay(msgspec.Struct, frozen=True, kw_only=True):
    """One person's collected activity on one day (UTC by default): the input of every formula.

    ``events`` counts every collected event of the day, logins and profile
    updates included; the other counts name catalog events. ``moods_start`` and
    ``moods_end`` are the ``mood`` values (1-10) of ``activation_mood_logged``
    by phase; ``wave_seconds`` sums ``wave_left.duration_seconds`` and
    ``feedback_rating_sum`` the ``rating`` of ``wave_feedback_submitted``.
    Version 2026-11.1 does not weigh activations, rounds or ratings; they are
    kept so that a later version can, from the same days.
    """

    day: date
    events: int = 0
    moods_start: tuple[int, ...] = ()
    moods_end: tuple[int, ...] = ()
    activations_completed: int = 0
    rounds_completed: int = 0
    microacts_created: int = 0
    microacts_shared: int = 0
    posts_created: int = 0
    likes_given: int = 0
    comments_given: int = 0
    shares_given: int = 0
    follows_given: int = 0
    waves_joined: int = 0
    wave_seconds: int = 0
    wave_interactions: int = 0
    wave_microacts_shared: int = 0
    feedback_given: int = 0
    feedback_rating_sum: int = 0

    def __post_init__(self) -> None:
        # A negative count or an impossible mood would push a score out of 0-100 without notice.
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if isinstance(value, int) and value < 0:
                raise IndexInputRejected(f"UserDay.{name} must be ≥ 0, got {value} (day {self.day})")
        if any(not 1 <= mood <= 10 for mood in self.moods_start + self.moods_end):
            raise IndexInputRejected(f"UserDay moods must be 1-10 as in the catalog (day {self.day})")
        counted = len(self.moods_start) + len(self.moods_end) + sum(getattr(self, n) for n in _EVENT_COUNTS)
        if self.events < counted:
            raise IndexInputRejected(
                f"UserDay.events must count every event of the day, at least the {counted} "
                f"its other fields count, got {self.events} (day {self.day})"
            )
        if not self.feedback_given <= self.feedback_rating_sum <= 5 * self.feedback_given:
            raise IndexInputRejected(
                f"UserDay.feedback_rating_sum must sum {self.feedback_given} ratings of 1-5, "
                f"got {self.feedback_rating_sum} (day {self.day})"
            )


class IndexWeights(msgspec.Struct, frozen=True, kw_only=True):
    """How much each component counts in its index: configuration, each ≥ 0.

    Each index divides by the sum of its own weights, so they need not add up
    to 1, but at least one weight of each index must be above 0.
    """

    flourish_mood: float = 0.35
    flourish_microact: float = 0.2
    flourish_community: float = 0.2
    flourish_consistency: float = 0.25
    add_value_sharing: float = 0.3
    add_value_community: float = 0.3
    add_value_wave: float = 0.25
    add_value_feedback: float = 0.15

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise IndexInputRejected(f"IndexWeights.{name} must be a finite number ≥ 0, got {value!r}")
        for index in ("flourish", "add_value"):
            if not any(getattr(self, n) > 0 for n in self.__struct_fields__ if n.startswith(index + "_")):
                raise IndexInputRejected(
                    f"IndexWeights: the {index}_* weights are all 0; give at least one of them a weight above 0"
                )


DEFAULT_WEIGHTS: Final = IndexWeights()


class FlourishIndex(msgspec.Struct, frozen=True, kw_only=True):
    """How a person is flourishing on a day, 0-100, with the components it is the weighted mean of."""

    value: float
    mood_score: float
    microact_score: float
    community_score: float
    consistency_score: float
    formula_version: str


class AddValueIndex(msgspec.Struct, frozen=True, kw_only=True):
    """How much value a person added to others in the window, 0-100, with its components."""

    value: float
    sharing_score: float
    community_score: float
    wave_score: float
    feedback_score: float
    formula_version: str


def streak(days: Collection[date], on: date) -> int:
    """Consecutive active days ending on ``on``, or on the day before if ``on`` has no activity yet.

    A day without activity breaks a streak only once it is over; days after
    ``on`` are ignored.
    """
    active = set(days)
    day, count = (on if on in active else on - _DAY), 0
    while day in active:
        count, day = count + 1, day - _DAY
    return count


def flourish(window: Sequence[UserDay], on: date, weights: IndexWeights = DEFAULT_WEIGHTS) -> FlourishIndex:
    """The Flourish Index on day ``on``, from the person's days in the 28 days ending on it."""
    days = _in_window(window, on)
    mood = _mood_score(days)
    microact = _saturate(_total(days, _microact_points), _MICROACT_HALF)
    community = _saturate(_total(days, _contribution_points) + _total(days, _wave_presence_points), _COMMUNITY_HALF)
    consistency = _consistency_score(days, on)
    return FlourishIndex(
        value=_weighted_mean(
            (weights.flourish_mood, mood),
            (weights.flourish_microact, microact),
            (weights.flourish_community, community),
            (weights.flourish_consistency, consistency),
        ),
        mood_score=mood,
        microact_score=microact,
        community_score=community,
        consistency_score=consistency,
        formula_version=FORMULA_VERSION,
    )


def add_value(window: Sequence[UserDay], on: date, weights: IndexWeights = DEFAULT_WEIGHTS) -> AddValueIndex:
    """The Add-Value Index on day ``on``: value given to others in the 28 days ending on it.

    Contributions received are not part of it: events name post ids, not
    their authors, so they cannot be credited to anyone (docs/metrics.md).
    """
    days = _in_window(window, on)
    sharing = _saturate(_total(days, lambda d: d.microacts_shared), _SHARING_HALF)
    community = _saturate(_total(days, _contribution_points), _CONTRIBUTION_HALF)
    wave = _saturate(
        _total(days, _wave_presence_points)
        + _total(days, lambda d: 2 * d.wave_microacts_shared + d.wave_seconds / _WAVE_SECONDS_PER_POINT),
        _WAVE_HALF,
    )
    feedback = _saturate(_total(days, lambda d: d.feedback_given), _FEEDBACK_HALF)
    return AddValueIndex(
        value=_weighted_mean(
            (weights.add_value_sharing, sharing),
            (weights.add_value_community, community),
            (weights.add_value_wave, wave),
            (weights.add_value_feedback, feedback),
        ),
        sharing_score=sharing,
        community_score=community,
        wave_score=wave,
        feedback_score=feedback,
        formula_version=FORMULA_VERSION,
    )


def _in_window(window: Iterable[UserDay], on: date) -> list[UserDay]:
    first = on - (WINDOW_DAYS - 1) * _DAY
    # Sorted, so that float sums do not depend on the order the caller passed the days in.
    days = sorted((d for d in window if first <= d.day <= on), key=lambda d: d.day)
    for a, b in pairwise(days):
        if a.day == b.day:
            raise IndexInputRejected(f"the window holds two UserDays for {a.day}; give one per person and day")
    return days


def _microact_points(d: UserDay) -> int:
    return d.microacts_created + d.microacts_shared + d.wave_microacts_shared


def _contribution_points(d: UserDay) -> int:
    # A post or a comment takes more from the giver than a like, a share or a follow.
    return 2 * (d.posts_created + d.comments_given) + d.likes_given + d.shares_given + d.follows_given


def _wave_presence_points(d: UserDay) -> int:
    return 2 * d.waves_joined + d.wave_interactions


def _total(days: Iterable[UserDay], points: Callable[[UserDay], float]) -> float:
    return sum((points(d) for d in days), 0.0)


def _saturate(amount: float, half: float) -> float:
    """0 for nothing, 50 at ``half``, 75 at twice it, approaching 100: more never scores less."""
    return _percent(1 - 0.5 ** (amount / half))


def _mood_score(days: Sequence[UserDay]) -> float:
    activation_days = [d for d in days if d.moods_start or d.moods_end]
    if not activation_days:
        return 0.0
    # Each Activation Day counts once, however many activations it held.
    level = _mean([_mean(d.moods_start + d.moods_end) for d in activation_days])
    lifts = [_mean(d.moods_end) - _mean(d.moods_start) for d in activation_days if d.moods_start and d.moods_end]
    lift = _mean(lifts) if lifts else 0.0
    return _percent((level - 1) / 9 + _LIFT_BONUS * lift / 9)


def _consistency_score(days: Sequence[UserDay], on: date) -> float:
    active = [d.day for d in days if d.events > 0]
    return _percent(
        0.6 * min(1.0, len(active) / _ACTIVE_DAYS_TARGET) + 0.4 * min(1.0, streak(active, on) / _STREAK_TARGET)
    )


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _percent(share: float) -> float:
    return round(100 * min(1.0, max(0.0, share)), 1)


def _weighted_mean(*parts: tuple[float, float]) -> float:
    # From the rounded components, so anyone can recompute a stored value from its breakdown and weights.
    total = sum(w for w, _ in parts)
    return round(sum(w * score for w, score in parts) / total, 1)
