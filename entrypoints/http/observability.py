"""``GET /metrics`` (Prometheus text exposition) and the timing of every HTTP request.

Who may scrape: with ``ADDVALUE_METRICS_TOKEN`` set, a request bearing that token; without it, only
a peer on this machine (a loopback address), so a service bound to a public address does not tell
strangers its traffic. The peer is the connection's, never X-Forwarded-For: a proxy in front would
otherwise make every scrape look local. docs/operations.md lists the families.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from typing import Any, Final

import anyio.to_thread
from litestar import Request, Response, get
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.status_codes import HTTP_401_UNAUTHORIZED, HTTP_403_FORBIDDEN
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from adapters.metrics.prometheus import CONTENT_TYPE_LATEST
from entrypoints.bootstrap import Container
from entrypoints.http.dependencies import Services
from entrypoints.http.errors import ApiError

__all__ = ["INGEST_ROUTES", "RequestTimer", "metrics_page"]

# The routes whose time is also in addvalue_ingest_request_duration_seconds.
INGEST_ROUTES: Final = frozenset(
    {
        "/v1/events",
        "/v1/batch",
        "/v1/b",
        *(f"/v1/{kind}" for kind in ("track", "identify", "screen", "page", "alias", "group")),
    }
)


@get("/metrics", include_in_schema=False)
async def metrics_page(request: Request[Any, Any, Any], container: Services) -> Response[bytes]:
    """Every metric family of every process of this service, in Prometheus' text format."""
    _check_scraper(request, container.settings.metrics_token)
    body = await anyio.to_thread.run_sync(container.metrics.exposition)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _check_scraper(request: Request[Any, Any, Any], token: str | None) -> None:
    if token is not None:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise ApiError(HTTP_401_UNAUTHORIZED, "unauthorized", "GET /metrics needs Authorization: Bearer <token>")
        return
    peer = request.client.host if request.client else ""
    try:
        local = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        local = False
    if not local:
        raise ApiError(
            HTTP_403_FORBIDDEN,
            "forbidden",
            "GET /metrics answers only this machine; set ADDVALUE_METRICS_TOKEN to scrape from elsewhere",
        )


class RequestTimer(ASGIMiddleware):
    """Times each routed HTTP request, from routing to its last byte, by route template and status."""

    def __init__(self, container: Container) -> None:
        self._metrics = container.metrics

    def __deepcopy__(self, memo: dict[int, Any]) -> RequestTimer:
        return self  # Litestar copies middleware with its router; the metrics are shared, not copied

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["type"] != ScopeType.HTTP:
            await next_app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await next_app(scope, receive, send_noting_status)
        finally:
            route = str(scope.get("path_template", "unknown"))
            seconds = time.perf_counter() - started
            self._metrics.request_served(route, status, seconds, ingest=route in INGEST_ROUTES)
