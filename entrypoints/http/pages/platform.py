"""The platform pages (analysts and admins): Overview, Flourish, Add-Value, Waves, retention, real time.

Every number comes from the same application queries as /api/dashboard (``Analytics``, through the same
``Aggregates`` reader), over the same default period (the 30 days to yesterday): a page is another view of
the API's answers, never a second computation. A tile shows one number of an answer (the period's last
day, or a sum of its days), and its change against the period of the same length just before.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Final

import anyio.to_thread
from litestar import Request, get
from litestar.params import FromQuery
from litestar.response import Template

from application.errors import NotFound
from application.reporting.queries import Analytics
from entrypoints.http import params
from entrypoints.http.dashboards import Aggregate
from entrypoints.http.dependencies import Reads
from entrypoints.http.pages.door import session_of
from entrypoints.http.params import From, To

__all__ = ["ROUTES", "Period", "page", "tiles"]

_ACTIVE: Final = ("dau", "wau", "mau")


class Period:
    """The period a page shows (``from``..``to``, as the API reads them) and the one just before it."""

    def __init__(self, analytics: Analytics, from_: str | None, to: str | None) -> None:
        self.first, self.last = params.day_range(from_, to, params.yesterday(analytics))
        length = (self.last - self.first).days + 1
        self.before = (self.first - timedelta(days=length), self.first - timedelta(days=1))

    def context(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


def _last(points: list[dict[str, Any]], key: str) -> Any:
    """The value of ``key`` on the last day that has one (None when no day has)."""
    for point in reversed(points):
        if point.get(key) is not None:
            return point[key]
    return None


def _change(now: float | None, before: float | None) -> dict[str, Any]:
    if now is None or before is None:
        return {"delta": None, "percent": None}
    delta = round(now - before, 1)
    return {"delta": delta, "percent": None if not before else round(100 * delta / before, 1)}


def tiles(now: dict[str, list[dict[str, Any]]], before: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The Overview's KPI tiles from the series of the period and of the one before (same keys)."""

    def figures(s: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        active = s["active"]
        return {
            **{k: _last(active, k) for k in _ACTIVE},
            "new_people": sum(p["new_people"] for p in active) if active else None,
            "flourish": _last(s["flourish"], "mean"),
            "add_value": _last(s["add_value"], "mean"),
            "waves_joined": sum(p["waves_joined"] for p in s["waves"]) if s["waves"] else None,
        }

    labels = {
        "dau": ("Daily active people", "people active on the period's last day"),
        "wau": ("Weekly active people", "people active in the 7 days to the period's last day"),
        "mau": ("Monthly active people", "people active in the 30 days to the period's last day"),
        "new_people": ("New people", "people seen for the first time in the period"),
        "flourish": ("Mean Flourish Index", "the mean of everyone's index on the last day it was computed"),
        "add_value": ("Mean Add-Value Index", "the mean of everyone's index on the last day it was computed"),
        "waves_joined": ("Wave joins", "times people joined a Wave in the period"),
    }
    current, previous = figures(now), figures(before)
    return [
        {"key": k, "label": label, "explain": explain, "value": current[k], **_change(current[k], previous[k])}
        for k, (label, explain) in labels.items()
    ]


async def _series(aggregate: Aggregate, analytics: Analytics, first: date, last: date) -> dict[str, Any]:
    """The four daily series of the Overview over [first, last], as /api/dashboard answers them."""
    active = await aggregate(analytics.active_people_series, first, last)
    flourish = await aggregate(analytics.index_dashboard, "flourish", first, last)
    add_value = await aggregate(analytics.index_dashboard, "add_value", first, last)
    waves = await aggregate(analytics.wave_participation, first, last)
    return {
        "active": active.data["series"],
        "flourish": flourish.data["series"],
        "add_value": add_value.data["series"],
        "waves": waves.data["series"],
    }


def page(request: Request[Any, Any, Any], name: str, period: Period | None, **context: Any) -> Template:
    return Template(
        f"{name}.html",
        context={
            "page": name,
            "role": session_of(request).principal.role,
            "csrf": session_of(request).csrf,
            "period": period.context() if period else None,
            **context,
        },
        headers={"Cache-Control": "no-store"},
    )


@get("/", name="page_overview")
async def page_overview(
    request: Request[Any, Any, Any], analytics: Reads, aggregate: Aggregate, from_: From = None, to: To = None
) -> Template:
    """KPI tiles with their change, then daily active people over the period."""
    period = Period(analytics, from_, to)
    now = await _series(aggregate, analytics, period.first, period.last)
    before = await _series(aggregate, analytics, *period.before)
    chart = {
        "x": [p["date"] for p in now["active"]],
        "series": {k.upper(): [p[k] for p in now["active"]] for k in _ACTIVE},
    }
    return page(request, "overview", period, tiles=tiles(now, before), rows=now["active"], chart=chart)


async def _index_page(
    request: Request[Any, Any, Any], analytics: Analytics, aggregate: Aggregate, which: str, period: Period
) -> Template:
    answer = await aggregate(analytics.index_dashboard, which, period.first, period.last)
    rows = answer.data["series"]
    chart = {
        "x": [p["date"] for p in rows],
        "series": {k: [p[k] for p in rows] for k in ("p25", "median", "p75", "mean")},
    }
    title = "Flourish Index" if which == "flourish" else "Add-Value Index"
    return page(request, "index", period, title=title, rows=rows, chart=chart, which=which)


@get("/flourish", name="page_flourish")
async def page_flourish(
    request: Request[Any, Any, Any], analytics: Reads, aggregate: Aggregate, from_: From = None, to: To = None
) -> Template:
    """The Flourish Index over the period: median and quartiles, and the mean, per day."""
    return await _index_page(request, analytics, aggregate, "flourish", Period(analytics, from_, to))


@get("/add-value", name="page_add_value")
async def page_add_value(
    request: Request[Any, Any, Any], analytics: Reads, aggregate: Aggregate, from_: From = None, to: To = None
) -> Template:
    """The Add-Value Index over the period: median and quartiles, and the mean, per day."""
    return await _index_page(request, analytics, aggregate, "add_value", Period(analytics, from_, to))


@get("/waves", name="page_waves")
async def page_waves(
    request: Request[Any, Any, Any], analytics: Reads, aggregate: Aggregate, from_: From = None, to: To = None
) -> Template:
    """Wave participation per day: joins, interactions, micro-acts shared, feedback, time in Waves."""
    period = Period(analytics, from_, to)
    answer = await aggregate(analytics.wave_participation, period.first, period.last)
    rows = answer.data["series"]
    keys = ("waves_joined", "wave_interactions", "wave_microacts_shared", "feedback_given")
    chart = {"x": [p["date"] for p in rows], "series": {k: [p[k] for p in rows] for k in keys}}
    return page(request, "waves", period, rows=rows, chart=chart)


@get("/retention", name="page_retention")
async def page_retention(
    request: Request[Any, Any, Any], analytics: Reads, aggregate: Aggregate, week: FromQuery[str | None] = None
) -> Template:
    """Retention cohorts as a heat-map table: people of each signup week still active N weeks later."""
    asked = week or (analytics.today() - timedelta(days=7)).isoformat()
    try:
        answer = await aggregate(analytics.retention_cohorts, asked)
    except NotFound as e:
        return page(request, "retention", None, week=asked, cohorts=None, missing=str(e))
    cohorts = [{**c, "cells": [(n, _heat(n, c["size"])) for n in c["active_by_week"]]} for c in answer.data["cohorts"]]
    return page(request, "retention", None, week=answer.data["week"], cohorts=cohorts, missing=None)


def _heat(n: int, size: int) -> int:
    """The heat-map class (0..10) of a cell: the share of its cohort still active, in tenths."""
    return 0 if not size else min(10, round(10 * n / size))


@get("/realtime", name="page_realtime")
async def page_realtime(request: Request[Any, Any, Any], analytics: Reads) -> Template:
    """The five live counters, updated over the WebSocket /api/realtime/metrics as events arrive."""
    snapshot = analytics.fresh_realtime()
    if snapshot is None:
        snapshot = await anyio.to_thread.run_sync(analytics.realtime)
    counters = {
        "daily_active_users": ("People active today", snapshot.daily_active_users),
        "online_now": ("Active in the last 5 minutes", snapshot.online_now),
        "activations_in_progress": ("Activation Days in progress", snapshot.activations_in_progress),
        "microacts_today": ("Micro-acts today", snapshot.microacts_today),
        "wave_participants": ("In live Waves now", sum(snapshot.wave_participants.values())),
    }
    return page(request, "realtime", None, counters=counters, as_of=snapshot.as_of.isoformat())


ROUTES: Final = (page_overview, page_flourish, page_add_value, page_waves, page_retention, page_realtime)
