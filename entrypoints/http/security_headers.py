"""Headers on every HTTP answer, errors and 404s included: no sniffing, a strict CSP, no referrer, HSTS behind TLS.

Installed as a ``before_send`` hook, which Litestar runs for every message it sends, so an answer
made by an exception handler or the router (404, 405) carries them too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

from domain.network import ProxyNetwork, is_trusted_proxy

__all__ = ["DOCS_CSP", "PAGE_CSP", "SecurityHeaders", "behind_tls", "scope_header"]

# The API answers JSON and CSV only: nothing it sends should run scripts, load anything or be framed.
_API_CSP: Final = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# The Swagger UI page (only with ADDVALUE_API_DOCS=true) runs an inline script and loads its bundle
# from the CDN named in entrypoints/http/app.py; its page alone gets this policy.
DOCS_CSP: Final = (
    "default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
# The dashboards' pages (entrypoints/http/pages): our own scripts, styles and WebSocket only. No inline script,
# no eval: chart data comes as <script type="application/json">, which is data, not script.
PAGE_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HSTS: Final = "max-age=31536000"  # no includeSubDomains: other hosts of the domain are not ours to decide
_ALWAYS: Final = (
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
)


class SecurityHeaders:
    """The ``before_send`` hook; ``docs_paths`` are the pages that get :data:`DOCS_CSP` instead of the API's."""

    def __init__(
        self,
        *,
        trusted_proxies: tuple[ProxyNetwork, ...],
        docs_paths: frozenset[str] = frozenset(),
        is_page: Callable[[str], bool] = frozenset().__contains__,
    ) -> None:
        self._trusted = trusted_proxies
        self._docs_paths = docs_paths
        self._is_page = is_page

    async def __call__(self, message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        for name, value in _ALWAYS:
            headers[name] = value
        path = str(scope.get("path", ""))
        headers["content-security-policy"] = (
            DOCS_CSP if path in self._docs_paths else PAGE_CSP if self._is_page(path) else _API_CSP
        )
        if behind_tls(scope, self._trusted):
            headers["strict-transport-security"] = _HSTS


def behind_tls(scope: Scope, trusted: tuple[ProxyNetwork, ...]) -> bool:
    """TLS ended here (scheme https), or a trusted proxy says the client used https.

    ``X-Forwarded-Proto`` is read only from a peer in ADDVALUE_TRUSTED_PROXIES, as
    ``X-Forwarded-For`` is: anyone else could write it.
    """
    if scope.get("scheme") == "https":
        return True
    client = scope.get("client")
    if not is_trusted_proxy(client[0] if client else None, trusted):
        return False
    proto = scope_header(scope, b"x-forwarded-proto")
    return proto is not None and proto.split(",")[-1].strip().lower() == "https"


def scope_header(scope: Scope, name: bytes) -> str | None:
    """The request's header ``name`` (lower case), or None."""
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None
