"""What an executive report says: its figures, each read through the same ``Analytics`` answers the API serves.

A report covers one closed week or month (``weekly-executive``, ``monthly-executive``): KPI tiles with the
previous period beside them, the DAU trend with the forecast band (domain.anomalies), index distributions,
Wave participation, the latest retention cohorts, data quality scores, the alerts that fired and the metric
anomalies. Values the minimum group size withholds stay None (shown as "withheld"). Nothing here is about
one person. Rendering is an adapter's (adapters.reports).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

import msgspec

from application.errors import NotFound
from application.quality.ports import QualityReader
from application.reporting.queries import Analytics
from domain.anomalies import band_of
from domain.periods import days_of, parse_period
from domain.quality import DIMENSIONS

__all__ = ["ExecutiveContent", "Fired", "ReportContent", "Tile"]

TREND_DAYS: Final = 56  # the DAU history the chart shows and the band is fitted on
FORECAST_DAYS: Final = 14
# An alert that fired: (its name, when) between two instants.
Fired = Callable[[datetime, datetime], list[tuple[str, datetime]]]


class Tile(msgspec.Struct, frozen=True, kw_only=True):
    """A KPI: its value in the period and in the one before (None: not computed, or withheld)."""

    key: str
    label: str
    value: float | None
    previous: float | None
    unit: Literal["people", "index", "percent"]


class ReportContent(msgspec.Struct, frozen=True, kw_only=True):
    """Everything one report shows, as plain figures (kept as JSON beside the rendered report)."""

    report: str
    title: str
    period: str
    previous_period: str
    first: date
    last: date
    zone: str
    tiles: list[Tile]
    dau: list[tuple[date, int]]  # closed days up to the period's last
    forecast: list[tuple[date, float, float, float]]  # day, expected, low, high
    indices: list[dict[str, Any]]  # per index on the last day: people, mean, p25, median, p75, withheld
    waves: dict[str, int]  # the period's Wave totals
    wave_days: list[tuple[date, int]]  # Waves joined per day
    cohorts_week: str | None
    cohorts: list[dict[str, Any]]
    quality: dict[str, float | None]  # mean score per dimension over the checked days
    quality_days: int
    alerts: list[tuple[str, datetime]]
    anomalies: list[dict[str, Any]]

    def tile(self, key: str) -> Tile:
        return next(t for t in self.tiles if t.key == key)


class ExecutiveContent:
    """Gathers a ``ReportContent`` for a closed week or month."""

    def __init__(self, analytics: Analytics, quality: QualityReader, fired: Fired, zone: ZoneInfo) -> None:
        self._analytics = analytics
        self._quality = quality
        self._fired = fired
        self._zone = zone

    def gather(self, report: str, title: str, cadence: Literal["week", "month"], period: str) -> ReportContent:
        first, last = days_of(cadence, period)
        previous = parse_period(cadence, (first - timedelta(days=1)).isoformat())
        now, before = self._figures(cadence, period), self._figures(cadence, previous)
        tiles = [
            Tile(key=key, label=label, value=now[key], previous=before[key], unit=unit) for key, label, unit in _TILES
        ]
        history = [(date.fromisoformat(p["date"]), p["dau"]) for p in self._series(last, TREND_DAYS)]
        forecast = []
        for k in range(1, FORECAST_DAYS + 1):
            band = band_of(history, last + timedelta(days=k))
            if band is not None:
                forecast.append((last + timedelta(days=k), band.expected, max(band.low, 0.0), band.high))
        waves = self._analytics.wave_participation(first, last).data["series"]
        week = _last_full_week(last)
        start = datetime.combine(first, time(0), self._zone).astimezone(UTC)
        end = datetime.combine(last + timedelta(days=1), time(0), self._zone).astimezone(UTC)
        checked = self._quality.quality_series(first, last)
        return ReportContent(
            report=report,
            title=title,
            period=period,
            previous_period=previous,
            first=first,
            last=last,
            zone=self._zone.key,
            tiles=tiles,
            dau=history,
            forecast=forecast,
            indices=[self._index(name, last) for name in ("flourish", "add_value")],
            waves={k: sum(p[k] for p in waves) for k in _WAVE_TOTALS},
            wave_days=[(date.fromisoformat(p["date"]), p["waves_joined"]) for p in waves],
            cohorts_week=week,
            cohorts=self._cohorts(week),
            quality={d: _mean([r.scores.get(d) for r in checked]) for d in DIMENSIONS},
            quality_days=len(checked),
            alerts=self._fired(start, end),
            anomalies=self._analytics.anomalies(first, last).data["series"],
        )

    def has_indices(self, day: date) -> bool:
        """Whether the day's indices were computed (by daily-indices) for anyone."""
        return bool(self._analytics.index_dashboard("flourish", day, day).data["series"])

    def _figures(self, cadence: Literal["week", "month"], period: str) -> dict[str, float | None]:
        first, last = days_of(cadence, period)
        days = self._analytics.active_people_series(first, last).data["series"]
        return {
            "dau_mean": _mean([p["dau"] for p in days]),
            "wau": days[-1]["wau"] if days else None,
            "mau": days[-1]["mau"] if days else None,
            "new_people": sum(p["new_people"] for p in days) if days else None,
            "churn_percent": self._churn(last),
            "flourish_mean": self._index(("flourish"), last)["mean"],
            "add_value_mean": self._index("add_value", last)["mean"],
            "wave_participants": self._wave_participants(first, last),
        }

    def _series(self, last: date, days: int) -> list[dict[str, Any]]:
        series: list[dict[str, Any]] = self._analytics.active_people_series(last - timedelta(days=days - 1), last).data[
            "series"
        ]
        return series

    def _churn(self, last: date) -> float | None:
        """Of the latest month ended by ``last`` (monthly-summary's churn_rate), in percent."""
        month = ((last + timedelta(days=1)).replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
        try:
            rate = self._analytics.monthly_summary(month).data["breakdown"].get("churn_rate")
        except NotFound:
            return None
        return None if rate is None else 100 * rate

    def _index(self, name: Literal["flourish", "add_value"], day: date) -> dict[str, Any]:
        points = self._analytics.index_dashboard(name, day, day).data["series"]
        empty = {"people": 0, "mean": None, "p25": None, "median": None, "p75": None, "withheld": None}
        return {"index": name, "date": day.isoformat(), **(points[0] if points else empty)}

    def _wave_participants(self, first: date, last: date) -> float | None:
        """People who joined a Wave in the week (weekly-summary); for a month, its busiest full week's."""
        found = []
        sunday = first + timedelta(days=(6 - first.weekday()) % 7)
        while sunday <= last:
            try:
                breakdown = self._analytics.weekly_summary(sunday.isoformat()).data["breakdown"]
            except NotFound:
                breakdown = {}
            if breakdown.get("wave_participants") is not None:
                found.append(float(breakdown["wave_participants"]))
            sunday += timedelta(days=7)
        return max(found) if found else None

    def _cohorts(self, week: str) -> list[dict[str, Any]]:
        try:
            cohorts: list[dict[str, Any]] = self._analytics.retention_cohorts(week).data["cohorts"]
        except NotFound:
            return []
        return cohorts


_TILES: Final[tuple[tuple[str, str, Literal["people", "index", "percent"]], ...]] = (
    ("dau_mean", "Daily active people (mean)", "people"),
    ("wau", "Weekly active people", "people"),
    ("mau", "Monthly active people", "people"),
    ("new_people", "New people", "people"),
    ("churn_percent", "Churn (last month)", "percent"),
    ("flourish_mean", "Mean Flourish Index", "index"),
    ("add_value_mean", "Mean Add-Value Index", "index"),
    ("wave_participants", "Wave participants", "people"),
)
_WAVE_TOTALS: Final = ("waves_joined", "wave_interactions", "wave_microacts_shared", "feedback_given", "wave_seconds")


def _mean(values: list[Any]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _last_full_week(last: date) -> str:
    """The ISO week of the last Sunday on or before ``last``."""
    return parse_period("week", (last - timedelta(days=(last.weekday() + 1) % 7)).isoformat())
