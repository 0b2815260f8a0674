"""``GET /health`` (the process is up) and ``GET /ready`` (its database answers), for load balancers."""

from __future__ import annotations

from typing import Final

import anyio.to_thread
from litestar import MediaType, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE

from entrypoints.http.dependencies import Services

__all__ = ["ROUTES"]


@get("/health", media_type=MediaType.JSON)
async def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@get(
    "/ready",
    media_type=MediaType.JSON,
    responses={503: ResponseSpec(data_container=dict[str, str], description="the database does not answer")},
)
async def ready(container: Services) -> Response[dict[str, str]]:
    """The database answers."""
    if await anyio.to_thread.run_sync(container.database_ready):
        return Response({"status": "ready"})
    return Response({"status": "database unreachable"}, status_code=HTTP_503_SERVICE_UNAVAILABLE)


ROUTES: Final = (health, ready)
