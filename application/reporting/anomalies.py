"""The metric-anomalies job and its answers: each closed day's DAU, new people, micro-acts and Wave joins
against the band the days before it predict (domain.anomalies).

Recorded as the derived values of a non-personal ``metric-anomalies`` report per day (one key per
anomalous metric and field, ``dau:expected`` say), replaced when the job runs again; a day with none
has an empty report, so "checked, nothing found" differs from "not checked".
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Final

from application.reporting.ports import RecordedReports
from domain.anomalies import METRICS, WINDOW_DAYS, Anomaly, check
from domain.periods import Cadence

__all__ = ["JOB", "MetricAnomalies", "anomaly_points"]

JOB: Final = "metric-anomalies"
_FIELDS: Final = ("value", "expected", "low", "high", "size")


class MetricAnomalies:
    """Daily, 02:30 UTC (after close-day), for the day before: its metrics outside their forecast band."""

    name = JOB
    schedule = "30 2 * * *"
    cadence: Cadence = "day"
    description = "flag the previous day's DAU, new people, micro-acts and Wave joins outside their forecast band"

    def __init__(self, reports: RecordedReports) -> None:
        self._reports = reports

    def run(self, period: str) -> int:
        day = date.fromisoformat(period)
        closed = self._reports.day(day)
        if closed is None:
            return 0  # not closed yet: close-day runs first
        earlier = [day - timedelta(days=back) for back in range(1, WINDOW_DAYS + 1)]
        found = self._reports.closed_days(earlier)
        history = {d: found[d].totals for d in earlier if d in found}
        derived: dict[str, float] = {}
        for metric, total in METRICS.items():
            series = [(d, totals.get(total, 0)) for d, totals in history.items()]
            anomaly = check(metric, series, day, closed.totals.get(total, 0))
            if anomaly is not None:
                derived |= _recorded(anomaly)
        return self._reports.record(JOB, period, {}, derived)


def _recorded(anomaly: Anomaly) -> dict[str, float]:
    return {f"{anomaly.metric}:{field}": float(getattr(anomaly, field)) for field in _FIELDS}


def anomaly_points(reports: RecordedReports, first: date, last: date) -> list[dict[str, Any]]:
    """The anomalies recorded for the days in [first, last], by day then metric."""
    points = []
    day = first
    while day <= last:
        report = reports.get(JOB, day.isoformat())
        recorded = {} if report is None else report.derived
        for metric in METRICS:
            if f"{metric}:value" in recorded:
                found = {field: recorded[f"{metric}:{field}"] for field in _FIELDS}
                direction = "spike" if found["value"] > found["high"] else "drop"
                rounded = {field: round(v, 1) for field, v in found.items() if field != "value"}
                points.append(
                    {"date": day.isoformat(), "metric": metric, "direction": direction, "value": int(found["value"])}
                    | rounded
                )
        day += timedelta(days=1)
    return points
