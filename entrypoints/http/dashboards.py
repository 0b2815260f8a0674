"""/api/dashboard and the platform summary: aggregates over everyone, read in worker threads.

An answer about a closed period is kept a while (``application.reporting.queries.AnswerCache``) and
served from memory; requests for an answer being computed wait for it instead of computing it again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Final

import anyio
import anyio.to_thread
from litestar import Request, Response, get
from litestar.params import SkipValidation

from application.reporting.queries import Analytics, Answer, AnswerCache
from entrypoints.http import envelope, params
from entrypoints.http.aggregate_shapes import IndexDashboardAnswer, PeriodSummaryAnswer, SegmentsAnswer
from entrypoints.http.dependencies import Reads
from entrypoints.http.envelope import CACHEABLE, Envelope
from entrypoints.http.params import From, To

__all__ = ["ROUTES", "Aggregates"]

# Metric reads in at most this many threads at once: the pools have a few connections each, and more
# threads would only wait for them (and for the GIL).
_READ_THREADS: Final = 8


class Aggregates:
    """Computes aggregate answers in a few worker threads, keeping those about closed periods."""

    def __init__(self) -> None:
        self._closed_answers = AnswerCache()
        self._readers = anyio.CapacityLimiter(_READ_THREADS)
        self._computing: dict[tuple[Any, ...], asyncio.Future[Answer]] = {}

    async def __call__(self, call: Callable[..., Answer], *args: Any) -> Answer:
        """``call(*args)``; a kept answer without a thread, or the one being computed for another request."""
        if None in args:  # "the latest computed": what that is changes, so the answer is not kept
            return await self._run(call, *args)
        key = (call.__name__, *args)
        kept = self._closed_answers.get(key)
        if kept is not None:
            return kept
        pending = self._computing.get(key)
        if pending is not None:  # the same answer is being computed: wait for it rather than compute it again
            with contextlib.suppress(asyncio.CancelledError):
                return await asyncio.shield(pending)
            if not pending.cancelled():
                raise asyncio.CancelledError  # this request was cancelled, not the computation
        answer = await self._compute(key, call, *args)
        self._closed_answers.put(key, answer)
        return answer

    async def _compute(self, key: tuple[Any, ...], call: Callable[..., Answer], *args: Any) -> Answer:
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._computing[key] = future
        try:
            answer = await self._run(call, *args)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved: the waiters, if any, raise it too
            raise
        finally:
            if self._computing.get(key) is future:
                del self._computing[key]
        future.set_result(answer)
        return answer

    async def _run(self, call: Callable[..., Answer], *args: Any) -> Answer:
        return await anyio.to_thread.run_sync(call, *args, limiter=self._readers)


Aggregate = SkipValidation[Aggregates]


@get("/metrics/platform-summary", name="platform_summary", responses=CACHEABLE)
async def platform_summary(
    request: Request[Any, Any, Any], analytics: Reads, aggregate: Aggregate, date: params.Day = None
) -> Response[Envelope]:
    """A closed day's platform totals (default: yesterday): DAU, WAU, MAU, new people, activity."""
    day = params.day("date", date, params.yesterday(analytics))
    return envelope.answered(request, await aggregate(analytics.platform_summary, day))


@get("/metrics/hourly", name="hourly_activity", responses=CACHEABLE)
async def hourly_activity(
    request: Request[Any, Any, Any], analytics: Reads, aggregate: Aggregate, date: params.Day = None
) -> Response[Envelope]:
    """Per UTC hour of a day (default: yesterday) with a report: activation completion, micro-acts by category,
    community engagement and Wave participation."""
    day = params.day("date", date, params.yesterday(analytics))
    return envelope.answered(request, await aggregate(analytics.hourly_activity, day))


@get("/dashboard/flourish", name="dashboard_flourish", responses=CACHEABLE)
async def dashboard_flourish(
    request: Request[Any, Any, Any], analytics: Reads, aggregate: Aggregate, from_: From = None, to: To = None
) -> Response[IndexDashboardAnswer]:
    """Per day in [from, to]: people with a Flourish Index; mean, quartiles (null under the minimum group size)."""
    days = params.day_range(from_, to, params.yesterday(analytics))
    return envelope.answered(request, await aggregate(analytics.index_dashboard, "flourish", *days))


@get("/dashboard/add-value", name="dashboard_add_value", responses=CACHEABLE)
async def dashboard_add_value(
    request: Request[Any, Any, Any], analytics: Reads, aggregate: Aggregate, from_: From = None, to: To = None
) -> Response[IndexDashboardAnswer]:
    """Per day in [from, to]: people with an Add-Value Index; mean, quartiles (null under the minimum group size)."""
    days = params.day_range(from_, to, params.yesterday(analytics))
    return envelope.answered(request, await aggregate(analytics.index_dashboard, "add_value", *days))


@get("/dashboard/wave-participation", name="dashboard_wave_participation", responses=CACHEABLE)
async def dashboard_wave_participation(
    request: Request[Any, Any, Any], analytics: Reads, aggregate: Aggregate, from_: From = None, to: To = None
) -> Response[Envelope]:
    """Per closed day in [from, to]: Waves joined, interactions, micro-acts shared in Waves, feedback."""
    days = params.day_range(from_, to, params.yesterday(analytics))
    return envelope.answered(request, await aggregate(analytics.wave_participation, *days))


@get("/dashboard/active-users", name="dashboard_active_people", responses=CACHEABLE)
async def dashboard_active_people(
    request: Request[Any, Any, Any], analytics: Reads, aggregate: Aggregate, from_: From = None, to: To = None
) -> Response[Envelope]:
    """Per closed day in [from, to]: DAU, WAU, MAU and new people."""
    days = params.day_range(from_, to, params.yesterday(analytics))
    return envelope.answered(request, await aggregate(analytics.active_people_series, *days))


@get("/dashboard/anomalies", name="dashboard_anomalies", responses=CACHEABLE)
async def dashboard_anomalies(
    request: Request[Any, Any, Any], analytics: Reads, aggregate: Aggregate, from_: From = None, to: To = None
) -> Response[Envelope]:
    """Per closed day in [from, to]: DAU, new people, micro-acts or Wave joins outside their forecast band."""
    days = params.day_range(from_, to, params.yesterday(analytics))
    return envelope.answered(request, await aggregate(analytics.anomalies, *days))


@get("/dashboard/executive-summary", name="dashboard_executive_summary", responses=CACHEABLE)
async def dashboard_executive_summary(
    request: Request[Any, Any, Any], analytics: Reads, aggregate: Aggregate, month: params.Month = None
) -> Response[PeriodSummaryAnswer]:
    """A month's headline figures (default: the latest month computed)."""
    return envelope.answered(request, await aggregate(analytics.executive_summary, params.period("month", month)))


@get("/dashboard/retention", name="dashboard_retention", responses=CACHEABLE)
async def dashboard_retention(
    request: Request[Any, Any, Any], analytics: Reads, aggregate: Aggregate, week: params.Week = None
) -> Response[Envelope]:
    """Retention cohorts (signup week x weeks since) as of an ISO week (default: last week)."""
    label = params.period("week", week) or _last_week(analytics)
    return envelope.answered(request, await aggregate(analytics.retention_cohorts, label))


@get("/dashboard/segments", name="dashboard_segments", responses=CACHEABLE)
async def dashboard_segments(
    request: Request[Any, Any, Any], analytics: Reads, aggregate: Aggregate, date: params.Day = None
) -> Response[SegmentsAnswer]:
    """People per segment (new, active, returning, at_risk, dormant) on a closed day (default: yesterday)."""
    day = params.day("date", date, params.yesterday(analytics))
    return envelope.answered(request, await aggregate(analytics.segments, day))


@get("/dashboard/weekly", name="dashboard_weekly", responses=CACHEABLE)
async def dashboard_weekly(
    request: Request[Any, Any, Any], analytics: Reads, aggregate: Aggregate, week: params.Week = None
) -> Response[PeriodSummaryAnswer]:
    """A week's summary: WAU, Wave participation, DAU trend and 14-day forecast (default: last week)."""
    label = params.period("week", week) or _last_week(analytics)
    return envelope.answered(request, await aggregate(analytics.weekly_summary, label))


@get("/dashboard/monthly", name="dashboard_monthly", responses=CACHEABLE)
async def dashboard_monthly(
    request: Request[Any, Any, Any], analytics: Reads, aggregate: Aggregate, month: params.Month = None
) -> Response[PeriodSummaryAnswer]:
    """A month's MAU, churn and growth (default: last month)."""
    label = params.period("month", month) or _last_month(analytics)
    return envelope.answered(request, await aggregate(analytics.monthly_summary, label))


def _last_week(analytics: Analytics) -> str:
    return (analytics.today() - timedelta(days=7)).isoformat()


def _last_month(analytics: Analytics) -> str:
    return (analytics.today().replace(day=1) - timedelta(days=1)).isoformat()


ROUTES: Final = (
    platform_summary,
    hourly_activity,
    dashboard_flourish,
    dashboard_add_value,
    dashboard_wave_participation,
    dashboard_active_people,
    dashboard_anomalies,
    dashboard_executive_summary,
    dashboard_retention,
    dashboard_segments,
    dashboard_weekly,
    dashboard_monthly,
)
