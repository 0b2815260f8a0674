"""Every /api request that reaches a route is written to the tamper-evident access log before its answer leaves.

Allowed requests (and errors) are one record each. Refused ones (401, 403, 429) are counted per minute, caller
or network, route and status (application.api_access.denials) and written as one record per count when the
minute is over: anyone can send refused requests, so they must not grow the permanent log one row each. When the
process stops, the counts not yet written (the current minute's) are written before the store closes
(``AccessLogMiddleware.close``, an ``on_shutdown`` hook of entrypoints.http.app).
"""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import Future
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
from application.api_access.denials import DenialSummaries, Refusal
from application.api_access.ports import AccessEntry, AccessRecord
from application.errors import StorageError
from entrypoints.bootstrap import Container

__all__ = ["AccessLogMiddleware"]

log = structlog.get_logger(__name__)

_FLUSH_GRACE_SECONDS: Final = 1.0  # past the minute's end, so its last refusals are in
_PATH_TYPE: Final = re.compile(r"\{(\w+):\w+\}")  # {stream_id:str} -> {stream_id}, as OpenAPI spells it

Outcome = Literal["allowed", "denied", "error", "rate_limited"]


class AccessLogMiddleware(ASGIMiddleware):
    """Writes each request's access record before its answer is sent; adds the quota headers.

    Records of concurrent requests are committed together (application.api_access.access_log.AccessLogWriter):
    each request waits for the transaction that holds its record, without a thread of its own.
    """

    def __init__(self, container: Container, *, prefix: str = "/api") -> None:
        self._prefix = prefix  # of the router's routes: /api, or nothing for the dashboards' pages
        self._writer = AccessLogWriter(container.access_log)
        self._refusals = DenialSummaries()
        self._flush_timer: asyncio.TimerHandle | None = None
        self._templates: dict[object, str] = {}  # per route handler, computed once

    def __deepcopy__(self, memo: dict[int, Any]) -> AccessLogMiddleware:
        return self  # Litestar copies a router when it is registered; the container is shared, not copied

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] == "OPTIONS":
            # OPTIONS reads no data and passes no gate (entrypoints.http.gate): nothing to account for.
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
        template = self._template(scope.get("route_handler"))
        at, method, outcome = datetime.now(UTC), str(scope.get("method", "GET")), _outcome(status)
        if outcome in ("denied", "rate_limited"):
            # An unknown caller is named by its anonymised network, never its address.
            who = principal if principal != "anonymous" else f"net:{state.get('audit_network', 'unknown')}"
            self._refusals.add(
                Refusal(at=at, who=who, role=role, method=method, route=template, status=status, outcome=outcome)
            )
            self._schedule_flush(at)
            return
        entry = AccessEntry(
            at=at,
            principal=principal,
            role=role,
            method=method,
            route=template,
            status=status,
            outcome=outcome,
            about=state.get("audit_about", ""),
        )
        try:
            await self._writer.submit_waiting(entry)
        except StorageError as e:  # the database is away: the answer still goes; a gap in the log is loud
            log.error("audit.append_failed", route=template, status=status, error=str(e))
        except Exception:  # anything else: the same, with where it came from
            log.exception("audit.append_failed", route=template, status=status)

    def _template(self, handler: object) -> str:
        """The route's template (/api/audit/streams/{stream_id}), never the path asked for."""
        template = self._templates.get(handler)
        if template is None:
            paths = getattr(handler, "paths", None) or {"/unknown"}
            template = self._templates[handler] = _PATH_TYPE.sub(r"{\1}", self._prefix + min(paths))
        return template

    def _schedule_flush(self, now: datetime) -> None:
        """Write the counts of refusals once their minute is over (one timer at a time, on the event loop)."""
        if self._flush_timer is not None:
            return
        delay = (DenialSummaries.next_due(now) - now).total_seconds() + _FLUSH_GRACE_SECONDS
        self._flush_timer = asyncio.get_running_loop().call_later(delay, self._flush)

    def _flush(self) -> None:
        self._flush_timer = None
        now = datetime.now(UTC)
        for summary in self._refusals.due(now):
            self._writer.submit(summary).add_done_callback(_log_failure)
        if self._refusals.pending():
            self._schedule_flush(now)

    async def close(self) -> None:
        """Write every refusal counted so far, the current minute's included, and stop the timer: run when the
        app shuts down, before the store closes. Without it a stop lost up to a minute of refusals from the log,
        and the timer fired later against a closed store."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        written = [self._writer.submit_waiting(summary) for summary in self._refusals.drain()]
        for outcome in await asyncio.gather(*written, return_exceptions=True):
            if isinstance(outcome, BaseException):
                log.error("audit.summary_append_failed", error=str(outcome))


def _log_failure(written: Future[AccessRecord]) -> None:
    error = written.exception()
    if error is not None:  # nobody waits for a summary: say it was lost, loudly
        log.error("audit.summary_append_failed", error=str(error))


def _outcome(status: int) -> Outcome:
    if status == HTTP_429_TOO_MANY_REQUESTS:
        return "rate_limited"
    if status in (HTTP_401_UNAUTHORIZED, HTTP_403_FORBIDDEN):
        return "denied"
    if status >= HTTP_500_INTERNAL_SERVER_ERROR:
        return "error"
    return "allowed"
