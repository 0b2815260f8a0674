"""Pipeline health (admins): ingest throughput and error rate, projection lag, jobs, data quality, alerts.

Every figure is read where the API, the CLI and the alerts read it: ingest outcomes per 5 minutes through
``ServiceSignals.ingest_per`` (the 24 buckets in one query, each what ``ServiceSignals.ingest`` answers: the
counts and the error rate the "High Event Error Rate" alert fires on), the projections as
``GET /api/admin/projections`` answers, each job's last success and owed periods as ``addvalue jobs status``
prints them, the checked days of ``GET /api/quality/series``, and the alerts and silences of ``GET /api/alerts``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

import anyio
import anyio.to_thread
import msgspec
from litestar import Request, get
from litestar.response import Template

from entrypoints.container import Container
from entrypoints.http.dependencies import Services
from entrypoints.http.pages.platform import page

__all__ = ["ROUTES", "ingest_buckets"]

BUCKET: Final = timedelta(minutes=5)
BUCKETS: Final = 24  # the last two hours
QUALITY_DAYS: Final = 14


def ingest_buckets(container: Container, now: datetime) -> list[dict[str, Any]]:
    """The last ``BUCKETS`` 5-minute buckets to ``now``, oldest first: events submitted, refused, error rate."""
    end = now.replace(second=0, microsecond=0)
    end -= timedelta(minutes=end.minute % 5)
    first = end - (BUCKETS - 1) * BUCKET
    buckets = []
    for k, found in enumerate(container.signals.ingest_per(first, BUCKET, BUCKETS)):
        rate = found["error_rate"]
        start = first + k * BUCKET
        buckets.append(
            {
                "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "from": start.strftime("%H:%M"),
                "submitted": int(found["submitted_events"] or 0),
                "refused": int(found["rejected_events"] or 0),
                "error_rate": None if rate is None else round(100 * rate, 2),
            }
        )
    return buckets


def _jobs(container: Container, now: datetime) -> list[dict[str, Any]]:
    """Per job, as ``addvalue jobs status``: the latest success, the periods owed (count and oldest), and
    whether its latest run failed."""
    successes = container.jobs.last_successes()
    failed = container.signals.failed_jobs()
    rows = []
    for job in container.jobs.all():
        last, owed = successes.get(job.name), container.jobs.owed(job.name, now)
        rows.append(
            {
                "job": job.name,
                "cadence": job.cadence,
                "last_period": None if last is None else last[0],
                "last_at": None if last is None else last[1].isoformat(timespec="seconds"),
                "owed": len(owed),
                "oldest_owed": owed[0] if owed else None,
                "failed": job.name in failed,
            }
        )
    return rows


def _quality(container: Container, now: datetime) -> dict[str, Any]:
    found = container.quality.quality_series(now.date() - timedelta(days=QUALITY_DAYS - 1), now.date())
    return {
        "quality": [{"period": r.period, "scores": r.scores, "failing": len(r.failing)} for r in found],
        "dimensions": sorted({d for r in found for d in r.scores}),
    }


def _ingest(container: Container, now: datetime) -> dict[str, Any]:
    ingest = ingest_buckets(container, now)
    x = [b["start"] for b in ingest]
    return {
        "ingest": ingest,
        "ingest_chart": {
            "x": x,
            "series": {"Events submitted": [b["submitted"] for b in ingest], "Refused": [b["refused"] for b in ingest]},
        },
        "error_chart": {"x": x, "series": {"Error rate (%)": [b["error_rate"] for b in ingest]}},
    }


def _alerts(container: Container, now: datetime) -> dict[str, Any]:
    alerting = container.alerting
    return {
        "alerts": msgspec.to_builtins(alerting.states()),
        "silences": msgspec.to_builtins(alerting.active_silences()),
    }


def _projections(container: Container, now: datetime) -> dict[str, Any]:
    return {"projections": msgspec.to_builtins(container.rebuilds.overview())}


_PARTS: Final = (
    _ingest,
    _quality,
    _alerts,
    _projections,
    lambda container, now: {"jobs": _jobs(container, now)},
)


async def _health(container: Container) -> dict[str, Any]:
    """The parts read side by side, each in a worker thread: the page waits for the slowest, not their sum."""
    now = container.clock.now()
    health: dict[str, Any] = {"as_of": now.isoformat(timespec="seconds")}

    async def read(part: Any) -> None:
        health.update(await anyio.to_thread.run_sync(part, container, now))

    async with anyio.create_task_group() as parts:
        for part in _PARTS:
            parts.start_soon(read, part)
    return health


@get("/pipeline", name="page_pipeline")
async def page_pipeline(request: Request[Any, Any, Any], container: Services) -> Template:
    """Ingest over the last two hours, projection lag, jobs, data quality, alerts and silences."""
    return page(request, "pipeline", None, **await _health(container))


ROUTES: Final = (page_pipeline,)
