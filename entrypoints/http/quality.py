"""/api/quality: the recorded data quality of a day, and of a range of days (analyst, admin)."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

import anyio.to_thread
from litestar import Response, get

from application.errors import NotFound
from entrypoints.http import envelope, params
from entrypoints.http.dependencies import Services
from entrypoints.http.envelope import ERRORS, Envelope
from entrypoints.http.params import From, To

__all__ = ["ROUTES"]


@get("/quality", name="quality_day", responses=ERRORS)
async def quality_day(container: Services, date: params.Day = None) -> Response[Envelope]:
    """A day's data quality (default: yesterday): a score 0-100 per dimension, each check with its failing figures."""
    day = params.day("date", date, container.clock.now().date() - timedelta(days=1))
    report = await anyio.to_thread.run_sync(container.quality.quality_on, day)
    if report is None:
        raise NotFound(f"{day} has not been checked yet: the data-quality job checks each day at 03:00 UTC")
    return envelope.live(report.shown(), data_points=len(report.checks))


@get("/quality/series", name="quality_series", responses=ERRORS)
async def quality_series(container: Services, from_: From = None, to: To = None) -> Response[Envelope]:
    """Per checked day in [from, to] (default: the 30 days to yesterday): the scores and failing checks."""
    first, last = params.day_range(from_, to, container.clock.now().date() - timedelta(days=1))
    reports = await anyio.to_thread.run_sync(container.quality.quality_series, first, last)
    days = [r.shown() for r in reports]
    return envelope.live({"from": first.isoformat(), "to": last.isoformat(), "days": days}, data_points=len(days))


ROUTES: Final = (quality_day, quality_series)
