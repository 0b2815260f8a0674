"""``/me``: a person's own transparency page (role ``user``): what the service holds about them, in plain words.

The page is about the signed-in person only: it names no one in its URL, and the gate refuses a
``user_id`` that is not theirs (403), as for /api. It reads the same use cases as /api/users and
/api/metrics (``Analytics``, ``ConsentBook``, ``Export``, ``Erasure``). Changing consent and asking for
erasure are forms carrying the session's CSRF token; consent changed here is recorded with source
``dashboard``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Final
from uuid import UUID

import anyio.to_thread
import msgspec
from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_400_BAD_REQUEST

from application.errors import NotFound
from domain.consent import PURPOSES, ConsentChoice
from entrypoints.http.dependencies import Services
from entrypoints.http.errors import ApiError
from entrypoints.http.pages.door import check_csrf, session_of

__all__ = ["ROUTES"]

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]

_EXPLAIN: Final = {
    "analytics": "counting what you do in the app, for the figures on this page and the team's dashboards",
    "personalization": "adapting suggestions in the app to you",
    "marketing": "telling you about AddValue outside the app",
    "location": "keeping the country and city your app reports",
}


def _person(request: Request[Any, Any, Any]) -> UUID:
    person = session_of(request).principal.subject_uuid()
    assert person is not None, "the page policy lets in only a user whose subject is a UUID"
    return person


def _indices(container: Any, person: UUID, day: Any) -> dict[str, Any]:
    """Both indices on ``day`` with their breakdown; None for one the daily job has not computed."""
    found: dict[str, Any] = {}
    for name, read in (
        ("flourish", container.analytics.flourish_index),
        ("add_value", container.analytics.add_value_index),
    ):
        try:
            found[name] = read(person, day).data
        except NotFound:
            found[name] = None
    return found


def _about(container: Any, person: UUID) -> dict[str, Any]:
    """Everything the page shows, read in one worker thread."""
    today = container.analytics.today()
    yesterday = today - timedelta(days=1)
    try:  # the 30 days to today, as /api/metrics/user-activity answers by default
        activity = container.analytics.user_activity(person, today - timedelta(days=29), today).data
    except NotFound:
        activity = None
    consent = container.consent.current(person) if activity is not None else None
    history = container.consent.history(person) if activity is not None else []
    return {
        "activity": activity,
        "indices": _indices(container, person, yesterday),
        "consent": None if consent is None else msgspec.to_builtins(consent.choice),
        "history": list(reversed(history)),
        "erasure": container.erasures.find(person),
    }


@get("/me", name="page_me")
async def page_me(request: Request[Any, Any, Any], container: Services) -> Template:
    """What the service holds about the signed-in person, their consent, export and erasure."""
    about = await anyio.to_thread.run_sync(_about, container, _person(request))
    session = session_of(request)
    return Template(
        "me.html",
        context={"page": "me", "role": "user", "csrf": session.csrf, "explain": _EXPLAIN, **about},
        headers={"Cache-Control": "no-store"},
    )


@post("/me/consent", name="page_me_consent")
async def page_me_consent(request: Request[Any, Any, Any], container: Services, data: Form) -> Redirect:
    """The person's new choice from the page's toggles (a box left unticked is a no)."""
    session = check_csrf(request, data.get("csrf"))
    choice = ConsentChoice(**{purpose: data.get(purpose) == "on" for purpose in PURPOSES})
    person = _person(request)
    await anyio.to_thread.run_sync(
        lambda: container.consent.change(person, choice, changed_by=session.principal.label, source="dashboard")
    )
    return Redirect("/me#consent", status_code=303)


@get("/me/export", name="page_me_export")
async def page_me_export(
    request: Request[Any, Any, Any], container: Services, format: FromQuery[str] = "zip"
) -> Response[bytes]:
    """Everything held about the person, as a download: JSON, or a zip of JSON and one CSV per event type."""
    if format not in ("json", "zip"):
        raise ApiError(HTTP_400_BAD_REQUEST, "bad_parameter", "format: json or zip")
    bundle = await anyio.to_thread.run_sync(container.export.bundle, _person(request))
    body = container.export.to_zip(bundle) if format == "zip" else msgspec.json.encode(bundle)
    name = f"addvalue-export.{format}"
    return Response(
        body,
        media_type="application/zip" if format == "zip" else "application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@post("/me/erase", name="page_me_erase")
async def page_me_erase(request: Request[Any, Any, Any], container: Services, data: Form) -> Template:
    """Erase the person after they ticked the confirmation: a receipt with the day their key is destroyed."""
    session = check_csrf(request, data.get("csrf"))
    if data.get("confirm") != "on":
        raise ApiError(HTTP_400_BAD_REQUEST, "bad_parameter", "tick the box to confirm the erasure")
    person = _person(request)
    receipt = await anyio.to_thread.run_sync(lambda: container.erasure.request(person, requested_by="user"))
    return Template(
        "erased.html",
        context={"page": "me", "role": "user", "csrf": session.csrf, "receipt": msgspec.to_builtins(receipt)},
        headers={"Cache-Control": "no-store"},
    )


ROUTES: Final = (page_me, page_me_consent, page_me_export, page_me_erase)
