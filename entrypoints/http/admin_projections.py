"""/api/admin/projections: the read models' positions and lag, and rebuilds while the service runs, for admins.

A rebuild asked for here is written into the shared journal and answered 202
at once; the process that runs the projection rebuilds it beside the live
read model and swaps it in (application.read_models.rebuilds). Its job id
follows it: ``GET /api/admin/projections/rebuilds/{job_id}``.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import anyio.to_thread
import msgspec
from litestar import Response, get, post
from litestar.datastructures import ResponseHeader
from litestar.params import PathParameter
from litestar.status_codes import HTTP_202_ACCEPTED

from application.read_models.ports import RebuildEntry
from entrypoints.http import envelope
from entrypoints.http.dependencies import Services
from entrypoints.http.envelope import ERRORS, Envelope

__all__ = ["ROUTES"]

ProjectionName = Annotated[
    str, PathParameter(max_length=64, description="a projection: daily_counts, live_activity or user_days")
]
JobId = Annotated[str, PathParameter(max_length=64, description="the id a rebuild request answered")]
_LOCATION: Final = [
    ResponseHeader(name="Location", description="where the job's progress is read", documentation_only=True)
]


@get("/admin/projections", name="admin_projections", responses=ERRORS)
async def admin_projections(container: Services) -> Response[Envelope]:
    """Each projection's position, lag (events, and the age in seconds of the oldest not applied) and rebuild."""
    states = await anyio.to_thread.run_sync(container.rebuilds.overview)
    target = max((s.position + s.lag_events for s in states), default=0)
    return envelope.live({"log_position": target, "projections": msgspec.to_builtins(states)}, data_points=len(states))


@post(
    "/admin/projections/{name:str}/rebuild",
    name="admin_projection_rebuild",
    status_code=HTTP_202_ACCEPTED,
    responses=ERRORS,
    response_headers=_LOCATION,
)
async def admin_projection_rebuild(container: Services, name: ProjectionName) -> Response[Envelope]:
    """Rebuild one projection beside its live read model, then swap it in; 202 with the job's id."""
    job_id = await anyio.to_thread.run_sync(container.rebuilds.request, [name])
    return _accepted(job_id, [name])


@post(
    "/admin/projections/rebuild-all",
    name="admin_projections_rebuild_all",
    status_code=HTTP_202_ACCEPTED,
    responses=ERRORS,
    response_headers=_LOCATION,
)
async def admin_projections_rebuild_all(container: Services) -> Response[Envelope]:
    """Rebuild every projection (the log read once for all), then swap them in; 202 with the job's id."""
    names = list(container.projections)
    job_id = await anyio.to_thread.run_sync(container.rebuilds.request, names)
    return _accepted(job_id, names)


@get("/admin/projections/rebuilds/{job_id:str}", name="admin_projection_rebuild_status", responses=ERRORS)
async def admin_projection_rebuild_status(container: Services, job_id: JobId) -> Response[Envelope]:
    """A rebuild job: each projection's status (pending, running, swapped, failed) and progress."""
    entries = await anyio.to_thread.run_sync(container.rebuilds.job, job_id)
    return envelope.live(_job(job_id, entries), data_points=len(entries))


def _job(job_id: str, entries: list[RebuildEntry]) -> dict[str, Any]:
    statuses = {e.status for e in entries}
    status = next((s for s in ("failed", "running", "pending") if s in statuses), "swapped")
    return {"job_id": job_id, "status": status, "projections": msgspec.to_builtins(entries)}


def _accepted(job_id: str, names: list[str]) -> Response[Envelope]:
    answer = envelope.live(
        {"job_id": job_id, "status": "pending", "projections": names}, data_points=len(names), status=HTTP_202_ACCEPTED
    )
    answer.headers["Location"] = f"/api/admin/projections/rebuilds/{job_id}"
    return answer


ROUTES: Final = (
    admin_projections,
    admin_projection_rebuild,
    admin_projections_rebuild_all,
    admin_projection_rebuild_status,
)
