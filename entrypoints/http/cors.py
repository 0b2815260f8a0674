"""OPTIONS and CORS: the right ``Allow``, and the headers that let pages of the origins in ADDVALUE_CORS_ORIGINS
call the service from a browser.

A ``before_send`` hook, like the security headers, so it sees every answer: Litestar's own ``OPTIONS`` answer
(204 with ``Allow``, given before the /api gate: a preflight carries no token and costs no quota), the routes'
answers, and errors. Only a listed origin gets ``Access-Control-*`` headers; any other origin, or none, gets the
same answer without them, and the browser then keeps the answer from the page. Tokens travel in the
``Authorization`` header, never in cookies, so credentials are not allowed.

``Allow`` is set here from the app's routes: Litestar 2.25 builds a path's OPTIONS answer with its first handler,
and a second handler on the same path (PUT /api/users/{user_id}/consent beside GET) was missing from it.
"""

from __future__ import annotations

from typing import Any, Final

from litestar.datastructures import MutableScopeHeaders
from litestar.status_codes import HTTP_204_NO_CONTENT
from litestar.types import Message, Scope

from entrypoints.http.security_headers import scope_header

__all__ = ["ALLOWED_HEADERS", "MAX_AGE_SECONDS", "Cors"]

# What a page may send: the token or write key, a JSON or gzip body, a revalidation.
ALLOWED_HEADERS: Final = "Authorization, Content-Type, Content-Encoding, If-None-Match"
# How long a browser may keep a preflight's answer: origins change with a restart, so not for long.
MAX_AGE_SECONDS: Final = 600
# What a page may read besides the simple headers: caching, back-off and the quota.
_EXPOSED: Final = "ETag, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset"


class Cors:
    """The ``before_send`` hook; with no origins it changes nothing."""

    def __init__(self, origins: frozenset[str]) -> None:
        self._origins = origins
        self._allow: dict[str, str] | None = None  # path template -> its methods, read from the app once

    async def __call__(self, message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        preflight = scope.get("method") == "OPTIONS" and message["status"] == HTTP_204_NO_CONTENT
        if preflight:
            headers["allow"] = self._methods(scope) or headers.get("allow") or "OPTIONS"
        if not self._origins:
            return
        headers.add("vary", "Origin")  # the answer depends on the Origin: caches must keep them apart
        origin = scope_header(scope, b"origin")
        if origin not in self._origins:
            return
        headers["access-control-allow-origin"] = origin
        if preflight:
            headers["access-control-allow-methods"] = headers["allow"]
            headers["access-control-allow-headers"] = ALLOWED_HEADERS
            headers["access-control-max-age"] = str(MAX_AGE_SECONDS)
        else:
            headers["access-control-expose-headers"] = _EXPOSED

    def _methods(self, scope: Scope) -> str | None:
        if self._allow is None:
            routes: dict[str, Any] = scope["app"].route_handler_method_map
            self._allow = {path: ", ".join(sorted(methods)) for path, methods in routes.items()}
        handler = scope.get("route_handler")
        paths = getattr(handler, "paths", None) or ()
        return next((self._allow[path] for path in paths if path in self._allow), None)
