"""/api/users: the person's own data: consent, export, erasure (GDPR Art. 7, 15, 17, 20)."""

from __future__ import annotations

from datetime import timedelta
from typing import Final, cast

import anyio.to_thread
import msgspec
from litestar import Response, delete, get, put
from litestar.params import FromQuery, JSONBody
from litestar.status_codes import (
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_500_INTERNAL_SERVER_ERROR,
)

from application.privacy.erasure import ErasureNotDone, UnknownUser
from domain.consent import ConsentChoice
from entrypoints.http import envelope, params
from entrypoints.http.dependencies import Person, Services, Who
from entrypoints.http.document import CONSENT_CHANGE, ZIP_TOO
from entrypoints.http.envelope import ERASURE, ERRORS, Envelope
from entrypoints.http.errors import ApiError

__all__ = ["ROUTES", "ConsentUpdate"]


class ConsentUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A new consent choice: every purpose, true or false."""

    analytics: bool
    personalization: bool
    marketing: bool
    location: bool


@get("/users/{user_id:str}/consent", name="user_consent", responses=ERRORS)
async def user_consent(container: Services, person: Person, user_id: params.PersonIdPath) -> Response[Envelope]:
    """The person's current consent per purpose."""
    state = await anyio.to_thread.run_sync(container.consent.current, person)
    return envelope.live({"metric": "consent", **msgspec.to_builtins(state)}, data_points=1)


@put(
    "/users/{user_id:str}/consent",
    name="user_consent_change",
    status_code=200,
    responses=ERRORS,
    operation_class=CONSENT_CHANGE,
)
async def user_consent_change(
    data: JSONBody[ConsentUpdate],
    *,
    container: Services,
    principal: Who,
    person: Person,
    user_id: params.PersonIdPath,
) -> Response[Envelope]:
    """Set the person's consent: every purpose given (analytics, personalization, marketing, location)."""
    changed_by = principal.label  # who really made the change: role and subject
    choice = ConsentChoice(**msgspec.structs.asdict(data))  # read strictly (entrypoints.http.bodies)
    state = await anyio.to_thread.run_sync(lambda: container.consent.change(person, choice, changed_by=changed_by))
    return envelope.live({"metric": "consent", **msgspec.to_builtins(state)}, data_points=1)


@get("/users/{user_id:str}/consent/history", name="user_consent_history", responses=ERRORS)
async def user_consent_history(container: Services, person: Person, user_id: params.PersonIdPath) -> Response[Envelope]:
    """Every consent change: the choice, when it took effect, from which source, by whom."""
    changes = await anyio.to_thread.run_sync(container.consent.history, person)
    return envelope.live({"metric": "consent_history", "changes": changes}, data_points=len(changes))


@get("/users/{user_id:str}/export", name="user_export", responses=ERRORS, operation_class=ZIP_TOO)
async def user_export(
    container: Services, person: Person, user_id: params.PersonIdPath, format: params.ExportFormat = "json"
) -> Response[Envelope]:
    """Everything held about the person: JSON, or (format=zip) JSON plus one CSV per event type."""
    bundle = await anyio.to_thread.run_sync(container.export.bundle, person)
    if format == "zip":
        return cast(
            Response[Envelope],
            Response(
                container.export.to_zip(bundle),
                media_type="application/zip",
                headers={
                    "Content-Disposition": 'attachment; filename="addvalue-export.zip"',
                    "Cache-Control": "no-store",
                },
            ),
        )
    return envelope.live(bundle, data_points=len(bundle["events"]))


@delete("/users/{user_id:str}", name="user_erase", status_code=200, responses=ERASURE)
async def user_erase(
    container: Services,
    principal: Who,
    person: Person,
    user_id: params.PersonIdPath,
    now: FromQuery[bool] = False,
) -> Response[Envelope]:
    """Erase the person: out of every use at once; their key destroyed after the grace period
    (admins may pass now=true to destroy it at once, also on top of a pending request). Answers with a
    receipt; an erasure asked for now that did not happen is an error, never a receipt."""
    if now and principal.role != "admin":
        raise ApiError(HTTP_403_FORBIDDEN, "forbidden", "only an admin may skip the grace period")
    grace = timedelta(0) if now else None
    try:
        receipt = await anyio.to_thread.run_sync(
            lambda: container.erasure.request(person, requested_by=principal.role, grace=grace)
        )
    except UnknownUser:
        raise ApiError(HTTP_404_NOT_FOUND, "not_found", "no data is held for this user") from None
    except ErasureNotDone:
        message = "the data key could not be destroyed: nothing was shredded; retry"
        raise ApiError(HTTP_500_INTERNAL_SERVER_ERROR, "erasure_not_done", message) from None
    return envelope.live({"metric": "erasure_receipt", **msgspec.to_builtins(receipt)}, data_points=1)


ROUTES: Final = (user_consent, user_consent_change, user_consent_history, user_export, user_erase)
