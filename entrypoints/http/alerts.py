"""/api/alerts: the alerts' states and history (analysts, admins); silences (admins)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any, Final

import anyio.to_thread
import msgspec
from litestar import Response, delete, get, post
from litestar.params import JSONBody, PathParameter
from litestar.status_codes import HTTP_404_NOT_FOUND

from application.alerting.ports import Silence
from domain.alert_conditions import parse_duration
from entrypoints.http import envelope, params
from entrypoints.http.dependencies import Services, Who
from entrypoints.http.document import NEW_SILENCE
from entrypoints.http.envelope import ERRORS, Envelope
from entrypoints.http.errors import ApiError

__all__ = ["ROUTES"]

SilenceId = Annotated[str, PathParameter(description="a silence's id, as its creation answered")]


# The constraints are declared, so that the OpenAPI document says what a silence must be (issue 19).
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
# A silence lasts a whole number of seconds, minutes, hours or days: "90m", "2h", "7d".
SilenceDuration = Annotated[str, msgspec.Meta(pattern=r"^[1-9][0-9]{0,5}[smhd]$")]


class Matcher(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Label
    value: Annotated[str, msgspec.Meta(max_length=200)]
    regex: bool = False


class NewSilence(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    matchers: Annotated[list[Matcher], msgspec.Meta(min_length=1, max_length=20)]
    comment: Annotated[str, msgspec.Meta(min_length=1, max_length=1000, pattern=r"\S")]
    duration: SilenceDuration = "2h"


@get("/alerts", name="alerts_list", responses=ERRORS)
async def alerts_list(container: Services, limit: params.Limit = 100) -> Response[Envelope]:
    """Every alert's state now, its latest transitions (at most ``limit``) and the silences in force."""

    def read() -> dict[str, Any]:
        alerting = container.alerting
        return {
            "alerts": msgspec.to_builtins(alerting.states()),
            "history": msgspec.to_builtins(alerting.history(limit=limit)),
            "silences": msgspec.to_builtins(alerting.active_silences()),
        }

    found = await anyio.to_thread.run_sync(read)
    return envelope.live(found, data_points=len(found["alerts"]))


@post("/alerts/silences", name="alerts_silence", status_code=200, responses=ERRORS, operation_class=NEW_SILENCE)
async def alerts_silence(data: JSONBody[NewSilence], *, container: Services, principal: Who) -> Response[Envelope]:
    """Stop notifications of the alerts whose labels match every matcher, for ``duration`` (default 2h)."""
    seconds = parse_duration(data.duration)  # the pattern admits only durations it reads
    now = container.alerting.now()
    silence = Silence(
        id=str(uuid.uuid4()),
        matchers=[msgspec.structs.asdict(m) for m in data.matchers],
        starts_at=now,
        ends_at=now + timedelta(seconds=seconds),
        author=principal.label,
        comment=data.comment,
    )
    await anyio.to_thread.run_sync(container.alerting.silence, silence)
    return envelope.live({"silence": msgspec.to_builtins(silence)}, data_points=1)


@delete("/alerts/silences/{silence_id:str}", name="alerts_unsilence", status_code=200, responses=ERRORS)
async def alerts_unsilence(container: Services, silence_id: SilenceId) -> Response[Envelope]:
    """End a silence now."""
    now = container.alerting.now()
    ended = await anyio.to_thread.run_sync(container.alerting.silences.expire, silence_id, now)
    if not ended:
        raise ApiError(HTTP_404_NOT_FOUND, "not_found", "no silence has this id")
    return envelope.live({"expired": silence_id}, data_points=1)


ROUTES: Final = (alerts_list, alerts_silence, alerts_unsilence)
