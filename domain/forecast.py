"""A simple, stated forecast of daily active people: a straight line plus a weekday pattern.

Method (docs/metrics.md, "Forecast"): DAU = a + b·t + s(weekday), fitted by
least squares (t in days; the seven weekday offsets s sum to zero over the
history), found by backfitting: fit the line to DAU minus the offsets, set
each offset to its weekday's mean residual, repeat until it settles. The
forecast of a day is the line's value there plus its weekday's offset,
never below 0.
With fewer than 7 days of history there is no forecast. It is a baseline for
the dashboards, not a model: no seasonality beyond the week, no holidays.

The band around it (``forecast_band``) is the forecast plus or minus
``BAND_Z`` residual standard errors of the fit (the residuals' sum of squares
over the days left after the line's 2 and the offsets' w - 1 parameters, w
the weekdays seen), low never below 0. It needs ``MIN_BAND_DEGREES`` such days
left over: with fewer, the fit passes too close to every point for its
residuals to say anything, and there is no band.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Final

__all__ = [
    "BAND_Z",
    "MIN_BAND_DEGREES",
    "MIN_HISTORY_DAYS",
    "Trend",
    "dau_trend",
    "fitted_line",
    "forecast_band",
    "forecast_dau",
]

MIN_HISTORY_DAYS: Final = 7
MIN_BAND_DEGREES: Final = 3
BAND_Z: Final = 1.96  # about 95% of days inside, were the residuals normal and the model right
_MAX_ROUNDS: Final = 500
_TOLERANCE: Final = 1e-9


class Trend:
    """The fitted line: ``level`` on the last day of history and ``slope`` in people per day."""

    __slots__ = ("level", "slope")

    def __init__(self, level: float, slope: float) -> None:
        self.level = level
        self.slope = slope


def _decompose(history: Sequence[tuple[date, float]]) -> tuple[float, float, date, dict[int, float]]:
    """Line (intercept, slope, origin) and weekday offsets, by backfitting to a tolerance of 1e-9."""
    offsets = {d.weekday(): 0.0 for d, _ in history}
    intercept = slope = 0.0
    start = history[0][0]
    for _ in range(_MAX_ROUNDS):
        intercept, slope, start = _fit([(d, v - offsets[d.weekday()]) for d, v in history])
        residuals: dict[int, list[float]] = {}
        for d, v in history:
            residuals.setdefault(d.weekday(), []).append(v - intercept - slope * (d - start).days)
        means = {w: sum(r) / len(r) for w, r in residuals.items()}
        centre = sum(means[d.weekday()] for d, _ in history) / len(history)
        settled = {w: m - centre for w, m in means.items()}
        if max(abs(settled[w] - offsets[w]) for w in offsets) < _TOLERANCE:
            return intercept, slope, start, settled
        offsets = settled
    return intercept, slope, start, offsets


def _fit(history: Sequence[tuple[date, float]]) -> tuple[float, float, date]:
    start = history[0][0]
    ts = [float((d - start).days) for d, _ in history]
    ys = [float(v) for _, v in history]
    n = len(ts)
    mean_t, mean_y = sum(ts) / n, sum(ys) / n
    spread = sum((t - mean_t) ** 2 for t in ts)
    slope = 0.0 if spread == 0 else sum((t - mean_t) * (y - mean_y) for t, y in zip(ts, ys, strict=True)) / spread
    return mean_y - slope * mean_t, slope, start


def dau_trend(history: Sequence[tuple[date, int]]) -> Trend | None:
    """The least-squares line through ``history`` with the weekday pattern taken out; None under 7 days."""
    if len(history) < MIN_HISTORY_DAYS:
        return None
    history = sorted(history)
    intercept, slope, start, _ = _decompose(history)
    last = float((history[-1][0] - start).days)
    return Trend(level=intercept + slope * last, slope=slope)


def forecast_dau(history: Sequence[tuple[date, int]], days: int = 14) -> list[tuple[date, float]]:
    """DAU for each of the ``days`` days after the last day of ``history``; empty with under 7 days."""
    if len(history) < MIN_HISTORY_DAYS:
        return []
    history = sorted(history)
    intercept, slope, start, weekday_offset = _decompose(history)
    last = history[-1][0]
    forecast = []
    for ahead in range(1, days + 1):
        d = last + timedelta(days=ahead)
        value = intercept + slope * (d - start).days + weekday_offset.get(d.weekday(), 0.0)
        forecast.append((d, max(0.0, value)))
    return forecast


def fitted_line(history: Sequence[tuple[date, float]]) -> Callable[[date], float] | None:
    """The fitted line with its weekday offsets, as a function of the day (any day); None under 7 days."""
    if len(history) < MIN_HISTORY_DAYS:
        return None
    intercept, slope, start, weekday_offset = _decompose(sorted(history))
    return lambda d: intercept + slope * (d - start).days + weekday_offset.get(d.weekday(), 0.0)


def forecast_band(history: Sequence[tuple[date, int]], days: int = 14) -> list[tuple[date, float, float]]:
    """(day, low, high) for each forecast day: the forecast -/+ BAND_Z residual standard errors; empty when
    the history leaves fewer than MIN_BAND_DEGREES degrees of freedom (or gives no forecast)."""
    if len(history) < MIN_HISTORY_DAYS:
        return []
    history = sorted(history)
    intercept, slope, start, offsets = _decompose(history)
    degrees = len(history) - (2 + len(offsets) - 1)
    if degrees < MIN_BAND_DEGREES:
        return []
    fitted = [intercept + slope * (d - start).days + offsets[d.weekday()] for d, _ in history]
    squares = sum((v - f) ** 2 for (_, v), f in zip(history, fitted, strict=True))
    spread = BAND_Z * (squares / degrees) ** 0.5
    band = []
    for ahead in range(1, days + 1):
        d = history[-1][0] + timedelta(days=ahead)
        value = intercept + slope * (d - start).days + offsets.get(d.weekday(), 0.0)
        band.append((d, max(0.0, value - spread), max(0.0, value + spread)))
    return band
