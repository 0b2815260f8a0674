"""The jobs of a week or a month: active people, Wave participation, retention cohorts, churn,
the DAU trend and forecast, and the executive summary.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Final

import msgspec

from application.read_models.user_days import UserDaysProjection
from application.reporting.ports import RecordedReports
from domain.forecast import dau_trend, forecast_band, forecast_dau
from domain.periods import Cadence, days_of, parse_period
from domain.platform import PlatformDay

__all__ = ["COHORT_WEEKS", "FORECAST_DAYS", "TREND_DAYS", "MonthlySummary", "WeeklySummary"]


COHORT_WEEKS: Final = 12  # retention cohorts reported: the signup weeks of the last 12 weeks
FORECAST_DAYS: Final = 14
TREND_DAYS: Final = 28


class _PeriodSummary:
    """What a summary of a closed period reads (people's days) and where it records its report."""

    def __init__(self, reports: RecordedReports, user_days: UserDaysProjection) -> None:
        self._reports = reports
        self._user_days = user_days


class WeeklySummary(_PeriodSummary):
    """Mondays 03:00 UTC, for the ISO week before: WAU, Wave participation, retention cohorts, DAU trend and forecast.

    Retention: a person's cohort is the ISO week of their first collected
    event; ``cohort:<week>:week<k>`` counts the cohort's people active in the
    k-th week after it (week0 = the cohort's size). Trend and forecast are
    fitted to the closed days' DAU (domain.forecast).
    """

    name = "weekly-summary"
    schedule = "0 3 * * 1"
    cadence: Cadence = "week"
    description = "the previous ISO week's WAU, Wave participation, retention cohorts, DAU trend and 14-day forecast"

    def run(self, period: str) -> int:
        self._user_days.catch_up()
        monday, sunday = days_of("week", period)
        view = self._user_days.view
        counts = {
            "weekly_active_people": view.active_people(monday, sunday),
            "wave_participants": view.people_with("waves_joined", monday, sunday),
        }
        for total in ("waves_joined", "wave_interactions", "wave_microacts_shared", "feedback_given"):
            counts[total] = sum(view.day_totals(monday + timedelta(days=i)).get(total, 0) for i in range(7))
        counts |= self._cohorts(monday, sunday)
        derived: dict[str, float] = {}
        history = [(d.day, d.totals.get("daily_active_people", 0)) for d in self._closed_days(sunday)]
        trend = dau_trend(history)
        if trend is not None:
            derived["dau_trend_level"] = trend.level
            derived["dau_trend_slope_per_day"] = trend.slope
        for day, value in forecast_dau(history, FORECAST_DAYS):
            derived[f"dau_forecast:{day.isoformat()}"] = value
        for day, low, high in forecast_band(history, FORECAST_DAYS):
            derived[f"dau_forecast_low:{day.isoformat()}"] = low
            derived[f"dau_forecast_high:{day.isoformat()}"] = high
        return self._reports.record(self.name, period, counts, derived)

    def _cohorts(self, monday: date, sunday: date) -> dict[str, int]:
        first_monday = monday - timedelta(weeks=COHORT_WEEKS - 1)
        view = self._user_days.view
        firsts = {s: d for s, d in view.first_days(first_monday).items() if d <= sunday}
        active = view.active_days(first_monday, sunday)
        counts: dict[str, int] = {}
        for subject, first in firsts.items():
            cohort = first - timedelta(days=first.weekday())
            label = parse_period("week", cohort.isoformat())
            weeks_active = {(d - cohort).days // 7 for d in active.get(subject, set()) if d >= cohort}
            for k in weeks_active | {0}:
                key = f"cohort:{label}:week{k}"
                counts[key] = counts.get(key, 0) + 1
        return counts

    def _closed_days(self, last: date) -> list[PlatformDay]:
        found = self._reports.closed_days([last - timedelta(days=i) for i in range(TREND_DAYS)])
        return [found[d] for d in sorted(found)]


class MonthlySummary(_PeriodSummary):
    """The 1st of each month, 04:00 UTC, for the month before: MAU, churn, long-term trend, executive summary.

    Churned: active in the month before this one and not in this one.
    ``executive-summary`` is recorded beside it: the month's headline figures.
    """

    name = "monthly-summary"
    schedule = "0 4 1 * *"
    cadence: Cadence = "month"
    description = "the previous month's MAU, churn, long-term trend and executive summary"

    def run(self, period: str) -> int:
        self._user_days.catch_up()
        first, last = days_of("month", period)
        previous_first = (first - timedelta(days=1)).replace(day=1)
        view = self._user_days.view
        now_active = set(view.active_days(first, last))
        before = set(view.active_days(previous_first, first - timedelta(days=1)))
        counts = {
            "monthly_active_people": len(now_active),
            "previous_month_active_people": len(before),
            "churned_people": len(before - now_active),
            "retained_people": len(before & now_active),
            "new_people": sum(view.new_people(first + timedelta(days=i)) for i in range((last - first).days + 1)),
        }
        derived: dict[str, float] = {}
        if before:
            derived["churn_rate"] = counts["churned_people"] / len(before)
        earlier = self._reports.get(self.name, previous_first.strftime("%Y-%m"))
        if earlier is not None and earlier.counts.get("monthly_active_people"):
            derived["mau_growth"] = len(now_active) / earlier.counts["monthly_active_people"] - 1
        rows = self._reports.record(self.name, period, counts, derived)
        return rows + self._executive_summary(period, first, last, counts, derived)

    def _executive_summary(
        self, period: str, first: date, last: date, month: dict[str, int], trend: dict[str, float]
    ) -> int:
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        found = self._reports.closed_days(days)
        closed = [found[day] for day in days if day in found]
        dau = [d.totals.get("daily_active_people", 0) for d in closed]
        totals: dict[str, int] = {}
        for d in closed:
            for metric in ("microacts_created", "activations_completed", "posts_created", "waves_joined"):
                totals[metric] = totals.get(metric, 0) + d.totals.get(metric, 0)
        counts = {**totals, "monthly_active_people": month["monthly_active_people"], "new_people": month["new_people"]}
        counts["peak_daily_active_people"] = max(dau, default=0)
        counts["closed_days"] = len(closed)
        derived = dict(trend)
        if dau:
            derived["mean_daily_active_people"] = sum(dau) / len(dau)
        flourish = [msgspec.json.decode(r)["flourish"]["value"] for r in self._user_days.view.indices_on(last)]
        counts["flourish_people"] = len(flourish)  # the group size of the mean, for the minimum group size rule
        if flourish:
            derived["mean_flourish_index"] = sum(flourish) / len(flourish)
        return self._reports.record("executive-summary", period, counts, derived)
