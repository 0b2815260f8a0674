"""The gate of the WebSocket routes: what ``gate.Gate`` and the access log's middleware do for an HTTP
request, done once per connection.

A connection is one request: its token is checked (4401), the policy (4403), one hit of the caller's
hourly quota (4429), and one access-log record is written before the socket is accepted. The token
comes only in ``Authorization: Bearer <token>`` or, for browsers (which cannot set headers on a
WebSocket), as the subprotocols ``bearer, <token>``; never in the URL, whose query ends up in proxy
and server logs. A dashboard page's socket comes in on its session cookie instead, and ends when that
session signs out (``SocketGate.ended``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from datetime import UTC, datetime
from typing import Any, Final

import anyio.to_thread
import msgspec
import structlog
from litestar import WebSocket

from adapters.api_access.tokens import InvalidToken
from application.api_access.policy import decide
from application.api_access.ports import AccessEntry, Outcome
from application.errors import StorageError
from application.principals import Principal
from entrypoints.bootstrap import Container
from entrypoints.http.auth import VerifiedTokens, expires_at
from entrypoints.http.gate import PRINCIPAL_PURPOSE, principal_key
from entrypoints.http.pages.door import SESSION_COOKIE, TLS_SESSION_COOKIE

__all__ = ["BEARER_SUBPROTOCOL", "Admitted", "SocketGate"]

log = structlog.get_logger(__name__)

BEARER_SUBPROTOCOL: Final = "bearer"
_HOW_TO_SEND: Final = (
    "send 'Authorization: Bearer <token>' or the subprotocols 'bearer, <token>' "
    "(Sec-WebSocket-Protocol); a token in the URL is refused"
)
# A socket opened by a dashboard session ends at once when that session signs out in this process; one in
# another worker notices within this many seconds (it asks the session store again).
SESSION_RECHECK_SECONDS: Final = 5.0


class Admitted(msgspec.Struct, frozen=True, kw_only=True):
    """A connection let in: who, until when (the token's ``exp``), and the subprotocol to accept with."""

    principal: Principal
    expires_at: float
    subprotocol: str | None
    session_id: str | None = None  # the dashboard session's cookie secret, when the socket was opened by one

    def seconds_left(self) -> float:
        return self.expires_at - time.time()


class _Refused(Exception):
    def __init__(self, close_code: int, status: int, reason: str, audit: tuple[str, str]) -> None:
        super().__init__(reason)
        self.close_code, self.status, self.reason, self.audit = close_code, status, reason, audit


class SocketGate:
    """Authentication, the policy, the quota and the access log, once per WebSocket connection."""

    def __init__(self, container: Container, tokens: VerifiedTokens) -> None:
        self._tokens = tokens
        self._sign_in = container.sign_in
        self._rate = container.api_rate
        self._log = container.access_log
        # The same keyed hash of the caller as the HTTP gate's: one quota and one identity per caller.
        self._secrets = container.keys.derived_secrets(PRINCIPAL_PURPOSE)
        self._watching: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._watching_lock = threading.Lock()
        self._sign_in.when_signed_out(self._signed_out)

    def __deepcopy__(self, memo: dict[int, Any]) -> SocketGate:
        return self  # one registry of open sessions' sockets, however Litestar copies its dependencies

    async def ended(self, admitted: Admitted) -> None:
        """Returns when the session that opened the socket is over (signed out); never for a token's socket."""
        session_id, ended = admitted.session_id, asyncio.Event()
        if session_id is None:
            await ended.wait()  # set by no one
            return
        watcher = (asyncio.get_running_loop(), ended)
        with self._watching_lock:
            self._watching.setdefault(session_id, set()).add(watcher)
        try:
            while not ended.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ended.wait(), SESSION_RECHECK_SECONDS)
                if not ended.is_set() and await anyio.to_thread.run_sync(self._sign_in.session, session_id) is None:
                    return  # signed out in another worker
        finally:
            with self._watching_lock:
                self._watching.get(session_id, set()).discard(watcher)
                if not self._watching.get(session_id, True):
                    del self._watching[session_id]

    def _signed_out(self, session_id: str) -> None:
        with self._watching_lock:
            watchers = list(self._watching.get(session_id, ()))
        for loop, ended in watchers:
            loop.call_soon_threadsafe(ended.set)

    async def admit(self, socket: WebSocket[Any, Any, Any], route: str, template: str) -> Admitted | None:
        """Admitted (the socket not yet accepted), or None once the socket was closed with the reason."""
        subprotocol = BEARER_SUBPROTOCOL if _offered_bearer(socket) else None
        try:
            admitted = await self._check(socket, route, subprotocol)
        except _Refused as refused:
            await self._record(template, refused.audit, refused.status)
            # Accepted, then closed: a browser sees the code and reason only on an open socket.
            await socket.accept(subprotocols=subprotocol)
            await socket.close(code=refused.close_code, reason=refused.reason[:120])
            return None
        await self._record(template, (self._key(admitted.principal), admitted.principal.role), 101)
        return admitted

    async def _check(self, socket: WebSocket[Any, Any, Any], route: str, subprotocol: str | None) -> Admitted:
        anonymous = ("anonymous", "-")
        if "access_token" in socket.query_params:
            raise _Refused(4401, 401, _HOW_TO_SEND, anonymous)
        token = _token(socket)
        if token is None:
            return await self._check_session(socket, route, subprotocol)
        try:
            principal = self._tokens.verify(token)
        except InvalidToken as e:
            raise _Refused(4401, 401, str(e), anonymous) from None
        await self._allow(route, principal)
        return Admitted(principal=principal, expires_at=expires_at(token), subprotocol=subprotocol)

    async def _check_session(self, socket: WebSocket[Any, Any, Any], route: str, subprotocol: str | None) -> Admitted:
        """A dashboard page's socket: its session cookie, sent only from a page of this very site (the Origin
        must be this host: a browser sends cookies on a WebSocket another site opens, unless SameSite stops it)."""
        secret = socket.cookies.get(TLS_SESSION_COOKIE) or socket.cookies.get(SESSION_COOKIE)
        origin = socket.headers.get("origin", "")
        same_site = origin.split("://", 1)[-1] == socket.headers.get("host")
        session = await anyio.to_thread.run_sync(self._sign_in.session, secret) if secret and same_site else None
        if session is None:
            raise _Refused(4401, 401, _HOW_TO_SEND, ("anonymous", "-"))
        await self._allow(route, session.principal)
        until = session.expires_at.timestamp()
        return Admitted(principal=session.principal, expires_at=until, subprotocol=subprotocol, session_id=secret)

    async def _allow(self, route: str, principal: Principal) -> None:
        """The policy (4403) and one hit of the hourly quota (4429)."""
        audit = (self._key(principal), principal.role)
        decision = decide(route, principal)
        if not decision.allowed:
            raise _Refused(4403, 403, decision.reason, audit)
        (quota,) = await anyio.to_thread.run_sync(self._rate.hit_many, [(audit[0], datetime.now(UTC))])
        if not quota.allowed:
            retry = quota.retry_after or quota.reset_seconds
            raise _Refused(4429, 429, f"at most {quota.limit} requests per hour; retry in {retry} s", audit)

    def _key(self, principal: Principal) -> str:
        return principal_key(self._secrets, principal)

    async def _record(self, template: str, audit: tuple[str, str], status: int) -> None:
        outcome: Outcome = "allowed" if status == 101 else "rate_limited" if status == 429 else "denied"
        entry = AccessEntry(
            at=datetime.now(UTC),
            principal=audit[0],
            role=audit[1],
            method="GET",
            route=template,
            status=status,
            outcome=outcome,
        )
        try:
            await anyio.to_thread.run_sync(self._log.append, entry)
        except StorageError as e:  # as for HTTP: the connection goes on; a gap in the log is loud
            log.error("audit.append_failed", route=template, status=status, error=str(e))


def _offered_bearer(socket: WebSocket[Any, Any, Any]) -> bool:
    return _subprotocols(socket)[:1] == [BEARER_SUBPROTOCOL]


def _subprotocols(socket: WebSocket[Any, Any, Any]) -> list[str]:
    offered = socket.headers.get("sec-websocket-protocol", "")
    return [p.strip() for p in offered.split(",") if p.strip()]


def _token(socket: WebSocket[Any, Any, Any]) -> str | None:
    """From the Authorization header, else the second of the subprotocols ``bearer, <token>``."""
    scheme, _, token = socket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    offered = _subprotocols(socket)
    if len(offered) >= 2 and offered[0] == BEARER_SUBPROTOCOL:
        return offered[1]
    return None
