"""Signing in and out of the dashboards: a one-time link (``addvalue dashboard-link``) or a bearer token.

Either becomes a session cookie: ``HttpOnly``, ``SameSite=Strict``, ``Secure`` (and named ``__Host-…``)
behind TLS, expiring with the session (the token's ``exp``, or 12 hours). Signing out deletes the session
on the server, so a copied cookie stops working too, and closes the WebSockets it opened.

The sign-in form has no session yet to hold its CSRF token, so it is a double submit: the form page sets a
random value in a ``SameSite=Strict`` cookie and in the form; a sign-in whose form value is not the cookie's
(another site's form, which the browser sends without that cookie) is refused and signs nobody in. Without
it, another site could sign a visitor in as the attacker's account (login CSRF).
"""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any, Final

import anyio.to_thread
from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body, PathParameter
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_401_UNAUTHORIZED

from adapters.api_access.tokens import InvalidToken
from application.api_access.sign_in import Opened, csrf_matches
from entrypoints.http.auth import expires_at
from entrypoints.http.dependencies import Services
from entrypoints.http.pages.door import cookie_name
from entrypoints.http.security_headers import behind_tls

__all__ = ["ROUTES", "home_of"]

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
_NO_STORE: Final = {"Cache-Control": "no-store"}
FORM_COOKIE: Final = "addvalue_sign_in"  # the sign-in form's double-submit value (``__Host-`` behind TLS)
_FORM_VALID_SECONDS: Final = 3600


def home_of(role: str) -> str:
    """Where a role lands after signing in: a person's own page, or the platform's Overview."""
    return "/me" if role == "user" else "/"


def _signed_in(request: Request[Any, Any, Any], container: Any, opened: Opened) -> Redirect:
    trusted = container.settings.trusted_proxies
    until = opened.session.expires_at
    cookie = Cookie(
        key=cookie_name(request.scope, trusted),
        value=opened.session_id,
        path="/",
        max_age=max(0, int((until - container.clock.now()).total_seconds())),  # the service's clock, as SignIn's
        httponly=True,
        secure=behind_tls(request.scope, trusted),
        samesite="strict",
    )
    return Redirect(home_of(opened.session.principal.role), status_code=303, cookies=[cookie], headers=_NO_STORE)


def _form_cookie_name(request: Request[Any, Any, Any], container: Any) -> str:
    return ("__Host-" if behind_tls(request.scope, container.settings.trusted_proxies) else "") + FORM_COOKIE


def _form(request: Request[Any, Any, Any], container: Any, message: str | None, status: int = 200) -> Template:
    """The sign-in form with a fresh double-submit value, in the form and in its cookie."""
    value = secrets.token_urlsafe(24)
    cookie = Cookie(
        key=_form_cookie_name(request, container),
        value=value,
        path="/",
        max_age=_FORM_VALID_SECONDS,
        httponly=True,
        secure=behind_tls(request.scope, container.settings.trusted_proxies),
        samesite="strict",
    )
    return Template(
        "sign_in.html",
        context={"message": message, "page": "sign-in", "form_csrf": value},
        status_code=status,
        headers=_NO_STORE,
        cookies=[cookie],
    )


def _sent_from_our_form(request: Request[Any, Any, Any], container: Any, sent: str | None) -> bool:
    kept = request.cookies.get(_form_cookie_name(request, container))
    return bool(kept and sent) and hmac.compare_digest(str(kept).encode(), str(sent).encode())


@get("/sign-in", name="page_sign_in")
async def page_sign_in(request: Request[Any, Any, Any], container: Services) -> Template:
    """The sign-in form: paste a bearer token, or open a link from ``addvalue dashboard-link``."""
    return _form(request, container, None)


@post("/sign-in", name="page_sign_in_token", status_code=303)
async def page_sign_in_token(request: Request[Any, Any, Any], container: Services, data: Form) -> Response[Any]:
    """A bearer token from the form, verified as /api verifies it, becomes a session until its ``exp``; only
    from this site's own form (its double-submit value, else 403 and no session)."""
    if not _sent_from_our_form(request, container, data.get("csrf")):
        return _form(request, container, "This form is stale or was not sent by this site: try again.", 403)
    token = data.get("token", "").strip()
    try:
        principal = await anyio.to_thread.run_sync(container.tokens.verify, token)
    except InvalidToken as e:
        return _form(request, container, f"That token was not accepted: {e}", HTTP_401_UNAUTHORIZED)
    until = datetime.fromtimestamp(expires_at(token), UTC)
    opened = await anyio.to_thread.run_sync(container.sign_in.open, principal, until)
    return _signed_in(request, container, opened)


@get("/sign-in/link/{link:str}", name="page_sign_in_link")
async def page_sign_in_link(
    request: Request[Any, Any, Any], container: Services, link: Annotated[str, PathParameter()]
) -> Response[Any]:
    """A one-time link: the first visit signs in; a second one, or one after 10 minutes, does not."""
    opened = await anyio.to_thread.run_sync(container.sign_in.redeem, link)
    if opened is None:
        message = "That sign-in link was used already or is older than 10 minutes: ask for a new one."
        return _form(request, container, message, HTTP_401_UNAUTHORIZED)
    return _signed_in(request, container, opened)


@post("/sign-out", name="page_sign_out", status_code=303)
async def page_sign_out(request: Request[Any, Any, Any], container: Services, data: Form) -> Redirect:
    """Deletes the session on the server (with the form's CSRF token) and the cookie in the browser."""
    name = cookie_name(request.scope, container.settings.trusted_proxies)
    secret = request.cookies.get(name)
    if secret:
        session = await anyio.to_thread.run_sync(container.sign_in.session, secret)
        if session is not None and csrf_matches(session, data.get("csrf")):
            await anyio.to_thread.run_sync(container.sign_in.sign_out, secret)
    gone = Cookie(key=name, value="", path="/", max_age=0, httponly=True, samesite="strict")
    return Redirect("/sign-in", status_code=303, cookies=[gone], headers=_NO_STORE)


ROUTES: Final = (page_sign_in, page_sign_in_token, page_sign_in_link, page_sign_out)
