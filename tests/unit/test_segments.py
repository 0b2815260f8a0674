"""User segment definitions, one case each, plus properties over any history."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.segments import SEGMENTS, classify

ON = date(2026, 11, 25)


def days_ago(*ns: int) -> list[date]:
    return [ON - timedelta(days=n) for n in ns]


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        (days_ago(0), "new"),
        (days_ago(6, 2), "new"),
        (days_ago(7, 0), "active"),
        (days_ago(13, 1), "active"),
        (days_ago(20, 3), "returning"),
        (days_ago(14, 6), "returning"),
        (days_ago(30, 9), "at_risk"),
        (days_ago(13), "at_risk"),
        (days_ago(14), "dormant"),
        (days_ago(60, 40), "dormant"),
    ],
)
def test_each_segment_follows_its_definition(history: list[date], expected: str) -> None:
    assert classify(history, ON) == expected


def test_someone_not_seen_by_that_day_has_no_segment() -> None:
    assert classify([ON + timedelta(days=1)], ON) is None
    assert classify([], ON) is None


@given(st.lists(st.integers(min_value=-5, max_value=90), max_size=20))
def test_every_history_gets_one_segment_and_later_days_change_nothing(offsets: list[int]) -> None:
    history = [ON - timedelta(days=n) for n in offsets]
    segment = classify(history, ON)
    past = [d for d in history if d <= ON]
    assert (segment is None) == (not past)
    assert segment is None or segment in SEGMENTS
    assert classify(past, ON) == segment
