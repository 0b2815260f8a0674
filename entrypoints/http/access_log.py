"""Every /api request that reaches a route is written to the tamper-evident access log before its answer leaves."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any, Final, Literal

import structlog
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.status_codes import (
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_500_INTERNAL_SERVER_ERROR,
)
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from application.api_access.access_log import AccessLogWriter
from application.api_access.ports import AccessEntry
from application.errors import StorageError
from entrypoints.bootstrap import Container

__all__ = ["AccessLogMiddleware"]

log = structlog.get_logger(__name__)

_PATH_TYPE: Final = re.compile(r"\{(\w+):\w+\}")  # {stream_id:str} -> {stream_id}, as OpenAPI spells it

Outcome = Literal["allowed", "denied", "error", "rate_limited"]


class AccessLogMiddleware(ASGIMiddleware):
    """Writes each request's access record before its answer is sent; adds the quota headers.

    Records of concurrent requests are committed together (application.api_access.access_log.AccessLogWriter):
    each request waits for the transaction that holds its record, without a thread of its own.
    """

    def __init__(self, container: Container) -> None:
        self._writer = AccessLogWriter(container.access_log)

    def __deepcopy__(self, memo: dict[int, Any]) -> AccessLogMiddleware:
        return self  # Litestar copies a router when it is registered; the container is shared, not copied

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["type"] != ScopeType.HTTP:
            await next_app(scope, receive, send)
            return

        async def send_after_logging(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = int(message["status"])
                state = scope.get("state", {})
                await self._append(scope, state, status)
                extra = [(k.lower().encode(), v.encode()) for k, v in state.get("rate_headers", {}).items()]
                known = {name for name, _ in message.get("headers", [])}
                message = {
                    **message,
                    "headers": [*message.get("headers", []), *(h for h in extra if h[0] not in known)],
                }
            await send(message)

        await next_app(scope, receive, send_after_logging)

    async def _append(self, scope: Scope, state: dict[str, Any], status: int) -> None:
        principal, role = state.get("audit", ("anonymous", "-"))
        handler = scope.get("route_handler")
        # The route's template (/api/audit/streams/{stream_id:str}), never the path asked for.
        template = _PATH_TYPE.sub(r"{\1}", "/api" + min(getattr(handler, "paths", None) or {"/unknown"}))
        entry = AccessEntry(
            at=datetime.now(UTC),
            principal=principal,
            role=role,
            method=str(scope.get("method", "GET")),
            route=template,
            status=status,
            outcome=_outcome(status),
        )
        try:
            await asyncio.wrap_future(self._writer.submit(entry))
        except StorageError as e:  # the database is away: the answer still goes; a gap in the log is loud
            log.error("audit.append_failed", route=template, status=status, error=str(e))
        except Exception:  # anything else: the same, with where it came from
            log.exception("audit.append_failed", route=template, status=status)


def _outcome(status: int) -> Outcome:
    if status == HTTP_429_TOO_MANY_REQUESTS:
        return "rate_limited"
    if status in (HTTP_401_UNAUTHORIZED, HTTP_403_FORBIDDEN):
        return "denied"
    if status >= HTTP_500_INTERNAL_SERVER_ERROR:
        return "error"
    return "allowed"
