"""The hourly-activity reports of one day (the seed's 3.2 metrics), as the API serves them.

The ``hourly-activity`` job records one report per UTC hour: activation completion, micro-acts by
category, community engagement and Wave participation, as counts of the hour's events. A day's
answer lists the hours that have a report, oldest first.

The completion rate (in percent, one decimal) is a share of the hour's started activations: withheld
under the minimum group size (group_size), since in a quiet hour it tells whether one person finished.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from application.reporting.day_jobs import HOURLY_EVENTS
from application.reporting.group_size import GroupSizeRule
from application.reporting.ports import RecordedReports

__all__ = ["CATEGORY_PREFIX", "hourly_points"]

CATEGORY_PREFIX: Final = "microact_created/category:"


def hourly_points(reports: RecordedReports, groups: GroupSizeRule, day: date) -> list[dict[str, Any]]:
    """One point per UTC hour of ``day`` whose report has been recorded."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    points = []
    for hour in range(24):
        label = (start + timedelta(hours=hour)).strftime("%Y-%m-%dT%H")
        report = reports.get("hourly-activity", label)
        if report is not None:
            points.append(_point(label, report.counts, report.derived, groups))
    return points


def _point(label: str, counts: dict[str, int], derived: dict[str, float], groups: GroupSizeRule) -> dict[str, Any]:
    rate = derived.get("activation_completion_rate")
    why = groups.reason(counts.get("activation_started", 0)) if rate is not None else None
    categories = {
        k.removeprefix(CATEGORY_PREFIX): n for k, n in sorted(counts.items()) if k.startswith(CATEGORY_PREFIX)
    }
    return {
        "hour": label,
        **{name: counts.get(name, 0) for name in HOURLY_EVENTS},
        "activation_completion_percent": None if rate is None or why else round(100 * rate, 1),
        "microacts_by_category": categories,
        "withheld": why,
    }
