"""The door of the dashboards' pages: the session cookie, the same gate as /api, CSRF, and errors as pages.

A page view passes what an /api request passes (``entrypoints.http.gate.Gate.admit``): the page's rule in
``application.api_access.policy.PAGES`` (403), one hit of the caller's hourly quota (429), and one record in
the access log (its middleware is on the pages' router too). Only the way in differs: a session cookie
instead of a bearer token; without one, the browser is sent to the sign-in page.
"""

from __future__ import annotations

from typing import Any, Final

import anyio.to_thread
from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers import BaseRouteHandler
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_401_UNAUTHORIZED, HTTP_403_FORBIDDEN
from litestar.types import ExceptionHandlersMap, Scope

from application.api_access.policy import PAGES
from application.api_access.sign_in import DashboardSession, SignIn, csrf_matches
from domain.network import ProxyNetwork
from entrypoints.http.errors import ApiError, logged_failure
from entrypoints.http.gate import Gate
from entrypoints.http.security_headers import behind_tls

__all__ = ["SESSION_COOKIE", "TLS_SESSION_COOKIE", "PageDoor", "check_csrf", "cookie_name", "page_errors", "session_of"]

SESSION_COOKIE: Final = "addvalue_session"
# Behind TLS the cookie takes the __Host- prefix: the browser then insists on Secure, Path=/ and no Domain.
TLS_SESSION_COOKIE: Final = "__Host-" + SESSION_COOKIE


def cookie_name(scope: Scope, trusted: tuple[ProxyNetwork, ...]) -> str:
    return TLS_SESSION_COOKIE if behind_tls(scope, trusted) else SESSION_COOKIE


class PageDoor:
    """The Litestar guard of every page but sign-in: a live session (else to /sign-in), then the gate."""

    def __init__(self, sign_in: SignIn, gate: Gate, trusted: tuple[ProxyNetwork, ...]) -> None:
        self._sign_in = sign_in
        self._gate = gate
        self._trusted = trusted

    def __deepcopy__(self, memo: dict[int, Any]) -> PageDoor:
        return self  # Litestar copies a router's guards; the gate and the store are shared

    async def session(self, connection: ASGIConnection[Any, Any, Any, Any]) -> tuple[str, DashboardSession] | None:
        """The cookie's secret and its live session, or None."""
        secret = connection.cookies.get(cookie_name(connection.scope, self._trusted))
        if not secret:
            return None
        session = await anyio.to_thread.run_sync(self._sign_in.session, secret)
        return None if session is None else (secret, session)

    async def guard(self, connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        found = await self.session(connection)
        if found is None:
            raise NotAuthorizedException("sign in to see this page")
        connection.scope["state"]["session"] = found
        await self._gate.admit(connection, found[1].principal, handler.handler_name, PAGES)


def session_of(request: Request[Any, Any, Any]) -> DashboardSession:
    """The session the door let in (pages only)."""
    session: DashboardSession = request.scope["state"]["session"][1]
    return session


def check_csrf(request: Request[Any, Any, Any], sent: str | None) -> DashboardSession:
    """The session, when the form carries its CSRF token; 403 otherwise (nothing is changed)."""
    session = session_of(request)
    if not csrf_matches(session, sent):
        raise ApiError(HTTP_403_FORBIDDEN, "csrf", "this form is stale or was not sent by this site: reload the page")
    return session


def page_errors() -> ExceptionHandlersMap:
    """Errors of the pages, from the one table (``failure_of``): a page saying what happened; no session, or
    an expired one, goes to the sign-in page."""

    def answer(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        failure = logged_failure(request, exc)
        if failure.status == HTTP_401_UNAUTHORIZED:
            return Redirect("/sign-in", status_code=303)
        return Template(
            "error.html",
            context={"status": failure.status, "detail": failure.detail or "the request failed on our side"},
            status_code=failure.status,
            headers=failure.headers,
        )

    return {Exception: answer}
