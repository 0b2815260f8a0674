"""Metric anomalies: a closed day's figure outside the band the days before it predict.

Method (docs/reports.md, "Anomalies"): fit the forecast's line with its weekday
offsets (domain.forecast) to the ``WINDOW_DAYS`` closed days before the day
(at least ``MIN_WINDOW_DAYS``); its value on the day is the expectation. The
spread is robust: the median absolute deviation of the window's residuals,
times 1.4826 (so that it estimates a standard deviation for normal noise),
finds the odd days; then the standard error of the other days' residuals,
widened for what the fit used up (see ``_fit``), never under ``MIN_SPREAD``
people or events (a flat history would otherwise flag a change of one). The
band is the expectation plus or minus ``BAND_WIDTH`` spreads; a figure
outside it is an anomaly, with its direction (``spike`` above, ``drop``
below) and its size in spreads. Odd days in the window (outside their own
band) are replaced by the fit's value and the line fitted again, so one spike neither
widens nor shifts the band of the weeks after it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from datetime import date
from typing import Final, Literal

import msgspec

from domain.forecast import fitted_line

__all__ = [
    "BAND_WIDTH",
    "METRICS",
    "MIN_SPREAD",
    "MIN_WINDOW_DAYS",
    "WINDOW_DAYS",
    "Anomaly",
    "Band",
    "band_of",
    "check",
]

WINDOW_DAYS: Final = 56
MIN_WINDOW_DAYS: Final = 14
BAND_WIDTH: Final = 4.5
MIN_SPREAD: Final = 1.0
_NORMAL_MAD: Final = 1.4826
_CLIPPING_ROUNDS: Final = 3
_FITTED: Final = 9  # parameters of the fit: a line (2) and seven weekday offsets
# The metrics watched: each one's name in the closed day's totals (domain.platform.PlatformDay).
METRICS: Final = {
    "dau": "daily_active_people",
    "new_people": "new_people",
    "microacts": "microacts_created",
    "wave_joins": "waves_joined",
}


class Band(msgspec.Struct, frozen=True, kw_only=True):
    expected: float
    low: float
    high: float
    spread: float


class Anomaly(msgspec.Struct, frozen=True, kw_only=True):
    """A day's figure outside its band: no one's data, only the platform's totals."""

    metric: str
    day: date
    value: int
    expected: float
    low: float
    high: float
    direction: Literal["spike", "drop"]
    size: float  # (value - expected) / spread: how many spreads away


def band_of(history: Sequence[tuple[date, int]], day: date) -> Band | None:
    """The band of ``day`` from the days before it (the last WINDOW_DAYS used); None under MIN_WINDOW_DAYS."""
    window = sorted((d, v) for d, v in history if d < day)[-WINDOW_DAYS:]
    if len(window) < MIN_WINDOW_DAYS:
        return None
    band = _fit(window, None)
    # Days of the window outside their own band are odd days (earlier anomalies): fitted again with each
    # replaced by the fit's value, or a spike would lift its weekday's offset, and so the band, for weeks; and
    # left out of the spread. A few rounds, as two spikes on one weekday hide each other in the first fit.
    for _ in range(_CLIPPING_ROUNDS):
        odd = {d for d, v in window if not band.low(d) <= v <= band.high(d)}
        band = _fit([(d, band.line(d) if d in odd else v) for d, v in window], odd)
    expected = band.line(day)
    spread = band.spread
    return Band(
        expected=expected, low=expected - BAND_WIDTH * spread, high=expected + BAND_WIDTH * spread, spread=spread
    )


class _Fit:
    def __init__(self, line: Callable[[date], float], spread: float) -> None:
        self.line, self.spread = line, spread

    def low(self, d: date) -> float:
        return self.line(d) - BAND_WIDTH * self.spread

    def high(self, d: date) -> float:
        return self.line(d) + BAND_WIDTH * self.spread


def _fit(window: Sequence[tuple[date, float]], odd: set[date] | None) -> _Fit:
    """The line, and the spread of its errors on a new day: from the median absolute deviation while the odd
    days are not known (``None``), then from the other days' residuals."""
    line = fitted_line(window)
    assert line is not None  # the window has MIN_WINDOW_DAYS days
    residuals = [v - line(d) for d, v in window if odd is None or d not in odd]
    n = len(residuals)
    if odd is None:
        centre = statistics.median(residuals)
        scale = _NORMAL_MAD * statistics.median(abs(r - centre) for r in residuals)
    else:
        scale = math.sqrt(sum(r * r for r in residuals) / max(1, n - _FITTED))
    # Residuals of a fit are smaller than its errors on a new day: each weekday's offset is a mean of only
    # n / 7 days (and the fit used up _FITTED degrees of freedom, counted above or in the factor below).
    widen = math.sqrt((1 + 7 / n) * (n / (n - _FITTED) if odd is None else 1))
    return _Fit(line, max(MIN_SPREAD, scale * widen))


def check(metric: str, history: Sequence[tuple[date, int]], day: date, value: int) -> Anomaly | None:
    """The anomaly of ``value`` on ``day`` against the days before it in ``history``, or None."""
    band = band_of(history, day)
    if band is None or band.low <= value <= band.high:
        return None
    return Anomaly(
        metric=metric,
        day=day,
        value=value,
        expected=band.expected,
        low=band.low,
        high=band.high,
        direction="spike" if value > band.high else "drop",
        size=(value - band.expected) / band.spread,
    )
