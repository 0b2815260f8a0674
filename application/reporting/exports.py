"""Analyst exports of aggregates: which datasets there are, their columns, and their rows for a range of days.

Each dataset's rows are read through the same ``Analytics`` answers the API serves, so an export and
the API agree for the same range, minimum group size included (values withheld there are empty
here, with the reason in ``withheld``). No dataset has a row about one person.

Rows are produced one period at a time (a day, an hour's report, a week, a month), so a long range
is read in steps and never held whole: the HTTP and command-line writers stream them
(adapters.exports).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Literal

import msgspec

from application.errors import BadQuery, NotFound
from application.quality.ports import QualityReader, QualityReport
from application.read_models.user_days import METRIC_OF
from application.reporting.day_jobs import HOURLY_EVENTS
from application.reporting.queries import Analytics
from domain.indices import FORMULA_VERSION
from domain.periods import days_of, parse_period

__all__ = ["DATASETS", "MAX_EXPORT_DAYS", "Column", "Dataset", "Exports"]

# Two years and a bit: the metrics' retention (retention.METRICS_DAYS) with room; longer is refused.
MAX_EXPORT_DAYS: Final = 800
ColumnType = Literal["date", "timestamp", "string", "int64", "float64"]


class Column(msgspec.Struct, frozen=True, kw_only=True):
    """One column: its name, type, unit, and what it holds."""

    name: str
    type: ColumnType
    unit: str
    description: str


class Dataset(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str
    columns: tuple[Column, ...]
    formula_version: str | None = None  # of the index values it holds


def _c(name: str, type_: ColumnType, unit: str, description: str) -> Column:
    return Column(name=name, type=type_, unit=unit, description=description)


_WITHHELD: Final = _c("withheld", "string", "text", "why values are empty: under the minimum group size; else empty")
_DAY_TOTALS: Final = (
    "daily_active_people",
    "weekly_active_people",
    "monthly_active_people",
    "new_people",
    "events",
    *sorted(set(METRIC_OF.values())),
    "wave_seconds",
)
_INDEX_VALUES: Final = ("mean", "p25", "median", "p75")

DATASETS: Final[dict[str, Dataset]] = {
    d.name: d
    for d in (
        Dataset(
            name="platform-days",
            description="one row per closed day: the platform's totals as the close-day job froze them",
            columns=(
                _c("date", "date", "day", "the closed day (UTC)"),
                *(_c(t, "int64", "people" if "people" in t else "events", f"the day's {t}") for t in _DAY_TOTALS[:-1]),
                _c("wave_seconds", "int64", "seconds", "time spent in Waves, summed over everyone"),
            ),
        ),
        Dataset(
            name="hourly-activity",
            description="one row per UTC hour with a report: activation completion, micro-acts, community, Waves",
            columns=(
                _c("hour", "timestamp", "UTC", "the start of the hour"),
                *(_c(name, "int64", "events", f"{name} events in the hour") for name in HOURLY_EVENTS),
                _c("activation_completion_percent", "float64", "percent", "completed / started activations"),
                _c("microacts_by_category", "string", "JSON", "micro-acts created per category, a JSON object"),
                _WITHHELD,
            ),
        ),
        *(
            Dataset(
                name=f"{cadence}ly-summaries",
                description=f"one row per figure of each {cadence}'s summary (the API's /api/dashboard/{cadence}ly)",
                columns=(
                    _c(cadence, "string", cadence, f"the {cadence} label, e.g. {example}"),
                    _c("figure", "string", "name", "the figure's name, e.g. weekly_active_people"),
                    _c("value", "float64", "as named", "the figure (counts are whole numbers); empty if withheld"),
                    _WITHHELD,
                ),
            )
            for cadence, example in (("week", "2026-W48"), ("month", "2026-11"))
        ),
        Dataset(
            name="retention-cohorts",
            description="per ISO week's retention table: one row per signup cohort and week since signup",
            columns=(
                _c("week", "string", "week", "the week the table is as of, e.g. 2026-W48"),
                _c("cohort", "string", "week", "the signup week"),
                _c("size", "int64", "people", "people who signed up that week"),
                _c("weeks_since", "int64", "weeks", "weeks after the signup week"),
                _c("active_people", "int64", "people", "of the cohort, people active that week"),
            ),
        ),
        Dataset(
            name="index-distributions",
            description="per day and index: people with the index, its mean and quartiles (0-100)",
            formula_version=FORMULA_VERSION,
            columns=(
                _c("date", "date", "day", "the day"),
                _c("index", "string", "name", "flourish or add_value"),
                _c("people", "int64", "people", "people with the index that day"),
                *(_c(v, "float64", "index points (0-100)", f"the {v} of the day's values") for v in _INDEX_VALUES),
                _WITHHELD,
                _c("formula_version", "string", "version", "the version of the index formulas"),
            ),
        ),
        Dataset(
            name="data-quality",
            description="per checked day (the daily data-quality job): each check's pass share, its dimension's score",
            columns=(
                _c("date", "date", "day", "the checked day"),
                _c("dimension", "string", "name", "completeness, accuracy, timeliness or consistency"),
                _c("check", "string", "name", "the check (docs/operations.md, data quality)"),
                _c("passed_percent", "float64", "percent", "the share of what the check examined that passed"),
                _c("score", "float64", "points (0-100)", "the dimension's score that day"),
            ),
        ),
        Dataset(
            name="segments",
            description="per closed day: people in each segment (new, active, returning, at_risk, dormant)",
            columns=(
                _c("date", "date", "day", "the closed day"),
                _c("segment", "string", "name", "the segment"),
                _c("people", "int64", "people", "people in the segment; empty if withheld"),
                _WITHHELD,
            ),
        ),
    )
}


class Exports:
    """The rows of a dataset for [first, last], read through the API's answers."""

    def __init__(self, analytics: Analytics, quality: QualityReader) -> None:
        self._analytics = analytics
        self._quality = quality
        self._rows: dict[str, Callable[[date, date], Iterator[dict[str, Any]]]] = {
            "platform-days": self._platform_days,
            "hourly-activity": self._hourly,
            "weekly-summaries": lambda first, last: self._summaries("week", first, last),
            "monthly-summaries": lambda first, last: self._summaries("month", first, last),
            "retention-cohorts": self._cohorts,
            "index-distributions": self._indices,
            "segments": self._segments,
            "data-quality": self._data_quality,
        }

    def dataset(self, name: str) -> Dataset:
        if name not in DATASETS:
            raise NotFound(f"no dataset is called {name!r}; there are: {', '.join(DATASETS)}")
        return DATASETS[name]

    def check(self, name: str, first: date, last: date) -> Dataset:
        """The dataset, once the range is known to be exportable (BadQuery otherwise)."""
        dataset = self.dataset(name)
        if last < first:
            raise BadQuery(f"'to' ({last.isoformat()}) is before 'from' ({first.isoformat()})")
        if (last - first).days + 1 > MAX_EXPORT_DAYS:
            raise BadQuery(f"the range spans {(last - first).days + 1} days; at most {MAX_EXPORT_DAYS} are allowed")
        return dataset

    def rows(self, name: str, first: date, last: date) -> Iterator[dict[str, Any]]:
        """Each row as a dict keyed by the dataset's columns, oldest period first."""
        self.check(name, first, last)
        return self._rows[name](first, last)

    def _platform_days(self, first: date, last: date) -> Iterator[dict[str, Any]]:
        for day in _days(first, last):
            try:
                totals = self._analytics.platform_summary(day).data["breakdown"]
            except NotFound:
                continue  # not closed
            yield {"date": day, **{t: totals.get(t, 0) for t in _DAY_TOTALS}}

    def _hourly(self, first: date, last: date) -> Iterator[dict[str, Any]]:
        for day in _days(first, last):
            for point in self._analytics.hourly_activity(day).data["series"]:
                hour = datetime.strptime(point["hour"], "%Y-%m-%dT%H").replace(tzinfo=UTC)
                categories = msgspec.json.encode(point["microacts_by_category"]).decode()
                yield point | {"hour": hour, "microacts_by_category": categories}

    def _summaries(self, cadence: Literal["week", "month"], first: date, last: date) -> Iterator[dict[str, Any]]:
        read = self._analytics.weekly_summary if cadence == "week" else self._analytics.monthly_summary
        for label in _periods(cadence, first, last):
            try:
                data = read(label).data
            except NotFound:
                continue
            for figure, value in sorted(data["breakdown"].items()):
                yield {cadence: label, "figure": figure, "value": value, "withheld": data["withheld"].get(figure)}

    def _cohorts(self, first: date, last: date) -> Iterator[dict[str, Any]]:
        for label in _periods("week", first, last):
            try:
                cohorts = self._analytics.retention_cohorts(label).data["cohorts"]
            except NotFound:
                continue
            for cohort in cohorts:
                for since, active in enumerate(cohort["active_by_week"]):
                    yield {
                        "week": label,
                        "cohort": cohort["cohort"],
                        "size": cohort["size"],
                        "weeks_since": since,
                        "active_people": active,
                    }

    def _indices(self, first: date, last: date) -> Iterator[dict[str, Any]]:
        """Day by day, the Flourish Index's row then the Add-Value Index's."""
        for start, end in _chunks(first, last, 31):
            rows: list[dict[str, Any]] = []
            for index in ("flourish", "add_value"):
                answer = self._analytics.index_dashboard(index, start, end)
                rows.extend(
                    {
                        "date": date.fromisoformat(point["date"]),
                        "index": index,
                        **{k: point[k] for k in ("people", *_INDEX_VALUES, "withheld")},
                        "formula_version": answer.formula_version,
                    }
                    for point in answer.data["series"]
                )
            yield from sorted(rows, key=lambda row: (row["date"], row["index"] != "flourish"))

    def _data_quality(self, first: date, last: date) -> Iterator[dict[str, Any]]:
        """As GET /api/quality/series answers: the checked days, a month at a time."""
        for start, end in _chunks(first, last, 31):
            for report in self._quality.quality_series(start, end):
                yield from _quality_rows(report)

    def _segments(self, first: date, last: date) -> Iterator[dict[str, Any]]:
        for day in _days(first, last):
            try:
                data = self._analytics.segments(day).data
            except NotFound:
                continue
            for segment, people in data["breakdown"].items():
                yield {"date": day, "segment": segment, "people": people, "withheld": data["withheld"]}


def _quality_rows(report: QualityReport) -> Iterator[dict[str, Any]]:
    for check in report.checks:
        yield {
            "date": date.fromisoformat(report.period),
            "dimension": check.dimension,
            "check": check.check,
            "passed_percent": round(100 * check.passed, 2),
            "score": report.scores.get(check.dimension),
        }


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _chunks(first: date, last: date, size: int) -> Iterator[tuple[date, date]]:
    start = first
    while start <= last:
        end = min(last, start + timedelta(days=size - 1))
        yield start, end
        start = end + timedelta(days=1)


def _periods(cadence: Literal["week", "month"], first: date, last: date) -> Iterator[str]:
    """The labels of the weeks or months that overlap [first, last], oldest first."""
    label = parse_period(cadence, first.isoformat())
    while True:
        start, end = days_of(cadence, label)
        if start > last:
            return
        yield label
        label = parse_period(cadence, (end + timedelta(days=1)).isoformat())
