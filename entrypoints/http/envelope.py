"""The seed's envelope, in which /api answers everything: ``status``, ``data`` or ``error``, ``metadata``.

Bodies are encoded here once with msgspec; the ``Envelope`` annotation tells OpenAPI the shape of what is sent.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, Final, Literal, cast

import msgspec
from litestar import MediaType, Request, Response
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_304_NOT_MODIFIED, HTTP_401_UNAUTHORIZED

from application.reporting.queries import Answer

__all__ = ["CACHEABLE", "ERASURE", "ERRORS", "Envelope", "Metadata", "answered", "error", "live", "live_body"]

_ENCODER: Final = msgspec.json.Encoder()


class Metadata(msgspec.Struct, frozen=True):
    calculated_at: str
    data_points: int | None
    confidence: Literal["final", "closed", "provisional"] | None
    formula_version: str | None


class Envelope(msgspec.Struct, frozen=True):
    """Every successful answer: ``data`` holds ``metric``, ``value``, ``date``, ``breakdown`` where they apply."""

    status: Literal["success"]
    data: dict[str, Any]
    metadata: Metadata


class ErrorDetail(msgspec.Struct, frozen=True):
    code: str
    message: str


class ErrorEnvelope(msgspec.Struct, frozen=True):
    status: Literal["error"]
    error: ErrorDetail
    metadata: dict[str, str]


ERRORS: Final = {
    status: ResponseSpec(data_container=ErrorEnvelope, description=description)
    for status, description in (
        (400, "a parameter or the body is malformed or out of bounds"),
        (401, "no valid bearer token"),
        (403, "the token's role may not call this, or not about this user"),
        (404, "nothing is held for what was asked"),
        (429, "over the hourly quota; see Retry-After"),
        (503, "the database is unreachable; see Retry-After"),
    )
}


# The routes that answer through ``answered``: a closed period's answer carries an ETag, and If-None-Match may match.
CACHEABLE: Final = ERRORS | {
    304: ResponseSpec(data_container=None, description="not modified: the ETag in If-None-Match is still the answer's")
}
# DELETE /api/users/{user_id}?now=true when the key could not be destroyed: nothing was shredded.
ERASURE: Final = ERRORS | {
    500: ResponseSpec(
        data_container=ErrorEnvelope, description="erasure_not_done: the data key could not be destroyed; retry"
    )
}


def answered(request: Request[Any, Any, Any], answer: Answer) -> Response[Any]:
    """The envelope; closed periods get an ETag and may be cached, live figures may not.

    ``Response[Any]``: the route's own annotation gives OpenAPI the shape (``Envelope`` or one of aggregate_shapes).
    """
    body = _ENCODER.encode({"status": "success", "data": answer.data, "metadata": _metadata(answer)})
    headers = {"Cache-Control": _cache_control(answer)}
    if answer.cacheable:
        # The ETag covers the figures, not the moment they were read.
        tag = '"' + hashlib.sha256(_ENCODER.encode([answer.data, answer.confidence])).hexdigest()[:32] + '"'
        headers["ETag"] = tag
        if tag in request.headers.get("if-none-match", ""):
            return cast(Response[Envelope], Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers))
    return _json(body, headers=headers)


def live(value: dict[str, Any], *, data_points: int, status: int = 200) -> Response[Envelope]:
    """A live answer (real time, audit, the person's own records): provisional, never cached."""
    metadata = {
        "calculated_at": datetime.now(UTC).isoformat(),
        "data_points": data_points,
        "confidence": "provisional",
        "formula_version": None,
    }
    body = {"status": "success", "data": value, "metadata": metadata}
    return _json(_ENCODER.encode(body), headers={"Cache-Control": "no-store"}, status=status)


def live_body(data: Any) -> bytes:
    """What the WebSocket sends: the envelope of a snapshot, stamped with the time it is read."""
    return _ENCODER.encode({"status": "success", "data": data, "metadata": _metadata()})


def error(status: int, code: str, message: str, headers: dict[str, str]) -> Response[Envelope]:
    """An error in the envelope; ``code`` is stable, ``message`` says what to do."""
    body = {"status": "error", "error": {"code": code, "message": message}, "metadata": _metadata()}
    all_headers = {"Cache-Control": "no-store", **headers}
    if status == HTTP_401_UNAUTHORIZED:
        all_headers["WWW-Authenticate"] = 'Bearer realm="addvalue"'
    return _json(_ENCODER.encode(body), headers=all_headers, status=status)


def _metadata(answer: Answer | None = None) -> dict[str, Any]:
    if answer is None:
        return {"calculated_at": datetime.now(UTC).isoformat()}  # errors and the WebSocket's snapshots
    return {
        "calculated_at": answer.calculated_at.isoformat(),
        "data_points": answer.data_points,
        "confidence": answer.confidence,
        "formula_version": answer.formula_version,
    }


def _cache_control(answer: Answer) -> str:
    if answer.confidence == "final":
        return "private, max-age=86400"
    if answer.confidence == "closed":
        return "private, max-age=300"
    return "no-store"


def _json(body: bytes, *, headers: dict[str, str], status: int = 200) -> Response[Envelope]:
    return cast(Response[Envelope], Response(body, status_code=status, media_type=MediaType.JSON, headers=headers))
