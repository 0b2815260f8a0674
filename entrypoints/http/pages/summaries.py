"""The summary pages (analysts and admins): segments, the weekly and monthly summaries, the executive summary.

Each shows one answer of /api/dashboard (``segments``, ``weekly``, ``monthly``, ``executive-summary``) for
the day, ISO week or month picked, through the same ``Aggregates`` reader; a figure withheld under the
minimum group size is shown as withheld, with the API's reason. The weekly page draws the summary's DAU
forecast beside the DAU of the forecast days that have closed since (/api/dashboard/active-users).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Final

from litestar import Request, get
from litestar.response import Template

from application.errors import NotFound
from application.reporting.queries import Analytics, Answer
from entrypoints.http import params
from entrypoints.http.dashboards import Aggregate
from entrypoints.http.dependencies import Reads, Services
from entrypoints.http.pages.kept_reports import kept_link
from entrypoints.http.pages.platform import page

__all__ = ["ROUTES", "figures"]

_SEGMENTS: Final = {  # domain/segments.py; "a week": the 7 days to the day shown
    "new": "first active within the last week",
    "active": "active in the last week and in the week before it",
    "returning": "active in the last week, not in the week before, but earlier",
    "at_risk": "not active in the last week, active in the week before it",
    "dormant": "not active in the last two weeks, active before",
}
_LABELS: Final = {
    "weekly_active_people": "Weekly active people",
    "wave_participants": "People in Waves",
    "waves_joined": "Wave joins",
    "wave_interactions": "Wave interactions",
    "wave_microacts_shared": "Micro-acts shared in Waves",
    "feedback_given": "Feedback given",
    "dau_trend_level": "DAU trend: level on the week's last day",
    "dau_trend_slope_per_day": "DAU trend: change per day",
    "monthly_active_people": "Monthly active people",
    "previous_month_active_people": "Active people the month before",
    "churned_people": "Active the month before, not this month",
    "retained_people": "Active both months",
    "new_people": "New people",
    "microacts_created": "Micro-acts created",
    "activations_completed": "Activation Days completed",
    "posts_created": "Posts created",
    "peak_daily_active_people": "Peak daily active people",
    "mean_daily_active_people": "Mean daily active people",
    "closed_days": "Closed days",
    "flourish_people": "People with a Flourish Index",
    "mean_flourish_index": "Mean Flourish Index",
}
# Per-day forecasts and cohort cells are drawn or shown elsewhere (the chart, the retention page).
_NOT_FIGURES: Final = ("dau_forecast", "cohort:")


def figures(answer: Answer) -> list[dict[str, Any]]:
    """A summary's figures in the API's order: key, label, value (None when withheld) and why withheld."""
    data = answer.data
    return [
        {"key": k, "label": _LABELS.get(k, k.replace("_", " ")), "value": v, "withheld": data["withheld"].get(k)}
        for k, v in data["breakdown"].items()
        if not k.startswith(_NOT_FIGURES)
    ]


async def _answer(aggregate: Aggregate, call: Any, *args: Any) -> tuple[Answer | None, str | None]:
    try:
        return await aggregate(call, *args), None
    except NotFound as e:
        return None, str(e)


@get("/segments", name="page_segments")
async def page_segments(
    request: Request[Any, Any, Any], analytics: Reads, aggregate: Aggregate, date: params.Day = None
) -> Template:
    """People per segment on a closed day (default: yesterday), as /api/dashboard/segments answers."""
    day = params.day("date", date, params.yesterday(analytics))
    answer, missing = await _answer(aggregate, analytics.segments, day)
    data = None if answer is None else answer.data
    found = {} if data is None else data["breakdown"]
    rows = [{"segment": k, "people": v, "explain": _SEGMENTS.get(k, "")} for k, v in found.items()]
    return page(request, "segments", None, day=day.isoformat(), data=data, rows=rows, missing=missing)


@get("/weekly", name="page_weekly")
async def page_weekly(
    request: Request[Any, Any, Any],
    analytics: Reads,
    aggregate: Aggregate,
    container: Services,
    week: params.Week = None,
) -> Template:
    """A week's summary (default: last week) and its 14-day DAU forecast against the DAU since closed; a link
    to the week's kept report when there is one."""
    label = params.period("week", week) or (analytics.today() - timedelta(days=7)).isoformat()
    answer, missing = await _answer(aggregate, analytics.weekly_summary, label)
    if answer is None:
        return page(request, "summary", None, cadence="week", label=label, figures=[], missing=missing, forecast=None)
    forecast = await _forecast(analytics, aggregate, answer)
    shown = answer.data["period"]
    return page(
        request,
        "summary",
        None,
        cadence="week",
        label=shown,
        figures=figures(answer),
        missing=None,
        forecast=forecast,
        kept=await kept_link(container, "week", shown),
    )


async def _forecast(analytics: Analytics, aggregate: Aggregate, answer: Answer) -> dict[str, Any] | None:
    """The forecast days with the forecast and its band, and, for those closed since, the DAU the API answers."""
    recorded = answer.data["breakdown"]

    def per_day(prefix: str) -> dict[str, float]:
        return {k.removeprefix(prefix): v for k, v in recorded.items() if k.startswith(prefix)}

    predicted, low, high = per_day("dau_forecast:"), per_day("dau_forecast_low:"), per_day("dau_forecast_high:")
    if not predicted:
        return None
    days = sorted(predicted)
    first, last = date.fromisoformat(days[0]), min(date.fromisoformat(days[-1]), params.yesterday(analytics))
    actual: dict[str, int] = {}
    if first <= last:
        series = await aggregate(analytics.active_people_series, first, last)
        actual = {p["date"]: p["dau"] for p in series.data["series"]}
    rows = [
        {"date": d, "forecast": predicted[d], "low": low.get(d), "high": high.get(d), "dau": actual.get(d)}
        for d in days
    ]
    lines = {"Forecast": "forecast", "Band low": "low", "Band high": "high", "DAU": "dau"}
    if not low:
        lines = {name: key for name, key in lines.items() if not name.startswith("Band")}
    chart = {"x": days, "series": {name: [r[key] for r in rows] for name, key in lines.items()}}
    return {"rows": rows, "chart": chart, "band": bool(low)}


@get("/monthly", name="page_monthly")
async def page_monthly(
    request: Request[Any, Any, Any],
    analytics: Reads,
    aggregate: Aggregate,
    container: Services,
    month: params.Month = None,
) -> Template:
    """A month's MAU, churn and growth (default: last month), as /api/dashboard/monthly answers; a link to the
    month's kept report when there is one."""
    label = params.period("month", month) or (analytics.today().replace(day=1) - timedelta(days=1)).isoformat()
    answer, missing = await _answer(aggregate, analytics.monthly_summary, label)
    shown = label if answer is None else answer.data["period"]
    found = [] if answer is None else figures(answer)
    kept = None if answer is None else await kept_link(container, "month", shown)
    return page(
        request, "summary", None, cadence="month", label=shown, figures=found, missing=missing, forecast=None, kept=kept
    )


@get("/executive", name="page_executive")
async def page_executive(
    request: Request[Any, Any, Any],
    analytics: Reads,
    aggregate: Aggregate,
    container: Services,
    month: params.Month = None,
) -> Template:
    """A month's headline figures (default: the latest computed), as /api/dashboard/executive-summary answers;
    a link to the month's kept report when there is one."""
    answer, missing = await _answer(aggregate, analytics.executive_summary, params.period("month", month))
    shown = (month or "") if answer is None else answer.data["period"]
    found = [] if answer is None else figures(answer)
    kept = None if answer is None else await kept_link(container, "executive", shown)
    return page(
        request,
        "summary",
        None,
        cadence="executive",
        label=shown,
        figures=found,
        missing=missing,
        forecast=None,
        kept=kept,
    )


ROUTES: Final = (page_segments, page_weekly, page_monthly, page_executive)
