"""Metric anomalies (domain.anomalies): planted spikes and drops are found, clean seasonal histories raise nothing."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from domain.anomalies import check

_START = date(2026, 1, 5)
_WEEKLY = (40, 30, 20, 0, -10, -60, -80)  # Monday .. Sunday


def _seasonal(days: int, seed: int, *, level: float, slope: float, noise: float) -> list[tuple[date, int]]:
    rng = random.Random(seed)
    history = []
    for t in range(days):
        d = _START + timedelta(days=t)
        value = level + slope * t + _WEEKLY[d.weekday()] * level / 500 + rng.gauss(0, noise)
        history.append((d, max(0, round(value))))
    return history


def _flagged(history: list[tuple[date, int]], first: int) -> list[tuple[date, str]]:
    found = []
    for d, value in history[first:]:
        anomaly = check("dau", history, d, value)
        if anomaly is not None:
            found.append((d, anomaly.direction))
    return found


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize(("level", "slope", "noise"), [(500, 2.0, 10.0), (40, 0.1, 4.0), (3000, -5.0, 40.0)])
def test_a_clean_seasonal_history_raises_no_alarm_over_90_days(
    seed: int, level: float, slope: float, noise: float
) -> None:
    history = _seasonal(28 + 90, seed, level=level, slope=slope, noise=noise)
    assert _flagged(history, 28) == []


@pytest.mark.parametrize("seed", range(10))
def test_planted_spikes_and_drops_are_found_and_nothing_else(seed: int) -> None:
    history = _seasonal(28 + 90, seed, level=500, slope=2.0, noise=10.0)
    planted = {40: ("spike", 200), 47: ("spike", 120), 75: ("drop", -150), 100: ("drop", -300)}
    for t, (_, change) in planted.items():
        d, value = history[t]
        history[t] = (d, value + change)
    expected = sorted((history[t][0], direction) for t, (direction, _) in planted.items())
    assert _flagged(history, 28) == expected


def test_an_anomaly_says_how_far_and_which_way() -> None:
    history = _seasonal(40, 1, level=500, slope=0.0, noise=10.0)
    d, value = history[-1]
    anomaly = check("dau", history, d, value - 200)
    assert anomaly is not None
    assert anomaly.direction == "drop"
    assert anomaly.value == value - 200
    assert anomaly.low <= anomaly.expected <= anomaly.high
    assert anomaly.size < -4
    assert check("dau", history[:13], d, value - 200) is None  # under 14 days of history: no band
