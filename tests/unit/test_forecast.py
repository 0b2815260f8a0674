"""The DAU forecast: a least-squares line plus each weekday's mean residual (domain.forecast)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.forecast import dau_trend, forecast_band, forecast_dau

START = date(2026, 2, 2)  # a Monday


def series(values: list[int]) -> list[tuple[date, int]]:
    return [(START + timedelta(days=i), v) for i, v in enumerate(values)]


def test_a_straight_line_is_continued_exactly() -> None:
    history = series([10 + 2 * i for i in range(21)])
    trend = dau_trend(history)
    assert trend is not None
    assert trend.slope == pytest.approx(2.0)
    assert trend.level == pytest.approx(50.0)
    assert [round(v, 6) for _, v in forecast_dau(history, 3)] == [52.0, 54.0, 56.0]


def test_a_weekly_pattern_on_a_flat_line_is_repeated() -> None:
    week = [100, 100, 100, 100, 100, 40, 40]  # quiet weekends
    history = series(week * 4)
    forecast = forecast_dau(history, 7)
    assert [d.weekday() for d, _ in forecast] == [0, 1, 2, 3, 4, 5, 6]
    assert [round(v) for _, v in forecast] == week


def test_under_a_week_of_history_gives_no_forecast() -> None:
    assert forecast_dau(series([5] * 6)) == []
    assert dau_trend(series([5] * 6)) is None


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=7, max_size=60))
def test_the_forecast_covers_the_next_days_and_is_never_negative(values: list[int]) -> None:
    history = series(values)
    forecast = forecast_dau(history, 14)
    assert [d for d, _ in forecast] == [history[-1][0] + timedelta(days=i) for i in range(1, 15)]
    assert all(v >= 0 for _, v in forecast)


def test_the_band_is_the_forecast_plus_or_minus_its_residual_spread() -> None:
    noise = [3, -3, 0, 2, -2, 1, -1]
    history = series([50 + noise[i % 5] for i in range(21)])
    forecast = dict(forecast_dau(history, 7))
    band = forecast_band(history, 7)
    assert [d for d, _, _ in band] == list(forecast)
    widths = {round(high - low, 9) for _, low, high in band}
    assert len(widths) == 1  # the same spread every day (none clipped at 0 here)
    assert widths.pop() > 0
    for day, low, high in band:
        assert low < forecast[day] < high
        assert forecast[day] - low == pytest.approx(high - forecast[day])


def test_a_perfect_fit_has_a_band_of_no_width_and_too_short_a_history_has_none() -> None:
    exact = forecast_band(series([10 + 2 * i for i in range(21)]), 3)
    assert [(round(low, 6), round(high, 6)) for _, low, high in exact] == [(52.0, 52.0), (54.0, 54.0), (56.0, 56.0)]
    assert forecast_band(series([5, 9, 4, 8, 7, 3, 6, 5, 9, 4])) == []  # 10 days: 2 degrees of freedom left
    assert len(forecast_band(series([5, 9, 4, 8, 7, 3, 6, 5, 9, 4, 6]))) == 14  # 11 days: 3
