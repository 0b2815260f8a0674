"""/api/metrics about one person: their Flourish and Add-Value Indices and their activity.

These read one person's rows by index: about half a millisecond, most of it waiting for the database.
They run on the event loop's own thread, as the quota and access-log waits do not: a hop to a worker
thread and back cost more than the read itself (bench/api.py at 500/s: 12-18% less server CPU per
answer, p99 11.7-14.5 ms instead of 14.2-22.1). The price: while a read waits, this process answers no
one else, for at most the pool's 2 s wait for a connection. Aggregates, which may take longer, keep to
threads (entrypoints/http/dashboards.py).
"""

from __future__ import annotations

from typing import Any, Final

from litestar import Request, Response, get

from entrypoints.http import envelope, params
from entrypoints.http.dependencies import Person, Reads
from entrypoints.http.envelope import CACHEABLE, Envelope
from entrypoints.http.params import From, To

__all__ = ["ROUTES"]


@get("/metrics/flourish-index", name="flourish_index", responses=CACHEABLE)
async def flourish_index(
    request: Request[Any, Any, Any],
    analytics: Reads,
    person: Person,
    user_id: params.PersonId,
    date: params.Day = None,
) -> Response[Envelope]:
    """One person's Flourish Index (0-100) for a day, with its breakdown. Default day: yesterday."""
    day = params.day("date", date, params.yesterday(analytics))
    return envelope.answered(request, analytics.flourish_index(person, day))


@get("/metrics/add-value-index", name="add_value_index", responses=CACHEABLE)
async def add_value_index(
    request: Request[Any, Any, Any],
    analytics: Reads,
    person: Person,
    user_id: params.PersonId,
    date: params.Day = None,
) -> Response[Envelope]:
    """One person's Add-Value Index (0-100) for a day, with its breakdown. Default day: yesterday."""
    day = params.day("date", date, params.yesterday(analytics))
    return envelope.answered(request, analytics.add_value_index(person, day))


@get("/metrics/user-activity", name="user_activity", responses=CACHEABLE)
async def user_activity(
    request: Request[Any, Any, Any],
    *,
    analytics: Reads,
    person: Person,
    user_id: params.PersonId,
    from_: From = None,
    to: To = None,
) -> Response[Envelope]:
    """One person's activity per day in [from, to] (default: the last 30 days) and current streak."""
    first, last = params.day_range(from_, to, analytics.today())
    return envelope.answered(request, analytics.user_activity(person, first, last))


ROUTES: Final = (flourish_index, add_value_index, user_activity)
