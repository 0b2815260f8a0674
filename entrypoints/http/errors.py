"""What a failed request answers, for every route: one table from exception to status and code.

``failure_of`` is that table. Only the body it is written in differs, where clients need it to: /api
answers in the seed's envelope (``entrypoints.http.envelope``); the Segment routes in the shape Segment's
and RudderStack's SDKs read (``success``, ``error``, ``detail``; docs/sdk.md); every other route as
``error`` and ``detail``. A client's mistake is a 4xx with a message that says what to fix; nothing a client
can send produces a 500.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, Final, NamedTuple

import msgspec
import structlog
from eventsourcing.persistence import PersistenceError
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_404_NOT_FOUND,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.types import ExceptionHandlersMap

from application.errors import BadQuery, NotFound, StorageError
from entrypoints.http import envelope

__all__ = [
    "ApiError",
    "Failure",
    "enveloped_errors",
    "failure_of",
    "logged_failure",
    "plain_errors",
    "plain_responses",
    "segment_errors",
    "segment_responses",
]

log = structlog.get_logger(__name__)

UNAVAILABLE: Final = "unavailable"
INTERNAL: Final = "internal"

# The words of the two failures that are ours, not the client's: plain and Segment bodies, then the envelope.
_PLAIN: Final = {
    UNAVAILABLE: ("storage unavailable", "nothing was stored; retry later"),
    INTERNAL: ("internal error", "the request failed on our side"),
}
_ENVELOPED: Final = {
    UNAVAILABLE: "the database is unreachable; retry later",
    INTERNAL: "the request failed on our side",
}


class ApiError(HTTPException):
    """A request refused with a stable ``code``; the message says what to do."""

    def __init__(self, status_code: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=status_code, detail=message, headers=headers)
        self.code = code


class Failure(NamedTuple):
    """A failed request: its status, a stable code, what to tell the client, and headers such as Retry-After."""

    status: int
    code: str
    detail: str
    headers: dict[str, str]


class Problem(msgspec.Struct, frozen=True):
    error: str
    detail: str


class SegmentProblem(msgspec.Struct, frozen=True):
    success: bool
    error: str
    detail: str


# What each refusal of the ingestion routes means, for the OpenAPI document (/api's are in envelope.ERRORS).
_MEANING: Final = {
    400: "the body or a parameter is malformed",
    401: "no valid credentials",
    404: "nothing has this name",
    413: "the body or the batch is over its limit",
    429: "over the rate limit; see Retry-After",
    503: "the database is unreachable; nothing was stored; see Retry-After",
}


def plain_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """The document's entries for these statuses, answered as ``error`` and ``detail``."""
    return {status: ResponseSpec(data_container=Problem, description=_MEANING[status]) for status in statuses}


def segment_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """The same for the Segment routes, answered in the shape Segment's SDKs read."""
    return {status: ResponseSpec(data_container=SegmentProblem, description=_MEANING[status]) for status in statuses}


def failure_of(exc: Exception) -> Failure:
    """The one table: what each exception answers, whatever the route."""
    match exc:
        case ApiError():
            return Failure(exc.status_code, exc.code, exc.detail, dict(exc.headers or {}))
        case NotAuthorizedException():
            return Failure(HTTP_401_UNAUTHORIZED, "unauthenticated", exc.detail, dict(exc.headers or {}))
        case PermissionDeniedException():
            return Failure(exc.status_code, "forbidden", exc.detail, dict(exc.headers or {}))
        case ValidationException():
            return Failure(HTTP_400_BAD_REQUEST, "bad_parameter", _invalid(exc), {})
        case HTTPException():  # Litestar's own (404, 405, 413, a body it cannot read) and the guard's 429
            return Failure(exc.status_code, "bad_request", exc.detail, dict(exc.headers or {}))
        case BadQuery():
            return Failure(HTTP_400_BAD_REQUEST, "bad_parameter", str(exc), {})
        case NotFound():
            return Failure(HTTP_404_NOT_FOUND, "not_found", str(exc), {})
        case StorageError() | PersistenceError():
            return Failure(HTTP_503_SERVICE_UNAVAILABLE, UNAVAILABLE, "", {"Retry-After": "1"})
        case _:
            return Failure(HTTP_500_INTERNAL_SERVER_ERROR, INTERNAL, "", {})


def plain_errors(*, too_large: str) -> ExceptionHandlersMap:
    """Errors as ``error`` and ``detail``; a body over the app's limit is told ``too_large``."""

    def answer(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
        failure = logged_failure(request, exc)
        error, detail = _plain(failure)
        if failure.status == HTTP_413_REQUEST_ENTITY_TOO_LARGE and not isinstance(exc, ApiError):
            detail = too_large  # Litestar's own refusal, which does not say the limit
        headers = {}
        if failure.status == HTTP_401_UNAUTHORIZED:
            headers["WWW-Authenticate"] = 'Bearer realm="addvalue"'
        if failure.status == HTTP_503_SERVICE_UNAVAILABLE:
            headers["Retry-After"] = "1"
        headers |= failure.headers
        return Response(Problem(error=error, detail=detail), status_code=failure.status, headers=headers)

    return {Exception: answer}


def segment_errors(*, too_large: str) -> ExceptionHandlersMap:
    """Errors as Segment's SDKs read them: they drop a batch on a 4xx and retry on a 5xx.

    A body too large is a 400 here, as at Segment, so that SDKs drop it rather than send it again.
    """

    def answer(request: Request[Any, Any, Any], exc: Exception) -> Response[SegmentProblem]:
        failure = logged_failure(request, exc)
        status, (error, detail) = failure.status, _plain(failure)
        if status == HTTP_413_REQUEST_ENTITY_TOO_LARGE:
            status, error, detail = HTTP_400_BAD_REQUEST, _phrase(HTTP_400_BAD_REQUEST), too_large
        headers = dict(failure.headers)
        if status == HTTP_401_UNAUTHORIZED:
            headers["WWW-Authenticate"] = 'Basic realm="addvalue"'
        return Response(SegmentProblem(success=False, error=error, detail=detail), status_code=status, headers=headers)

    return {Exception: answer}


def enveloped_errors() -> ExceptionHandlersMap:
    """Errors in the seed's envelope, for /api: ``error.code`` is the table's code."""

    def answer(request: Request[Any, Any, Any], exc: Exception) -> Response[envelope.Envelope]:
        failure = logged_failure(request, exc)
        message = _ENVELOPED.get(failure.code, failure.detail)
        return envelope.error(failure.status, failure.code, message, failure.headers)

    return {Exception: answer}


def logged_failure(request: Request[Any, Any, Any], exc: Exception) -> Failure:
    failure = failure_of(exc)
    route = request.scope.get("path_template")  # the route's template, never the path asked for
    if failure.code == UNAVAILABLE:
        log.error("storage.unavailable", route=route, error=str(exc))
    elif failure.code == INTERNAL:
        log.exception("request.failed", route=route, path=request.url.path, error=repr(exc))
    return failure


def _plain(failure: Failure) -> tuple[str, str]:
    return _PLAIN.get(failure.code, (_phrase(failure.status), failure.detail))


def _phrase(status: int) -> str:
    return HTTPStatus(status).phrase.lower()


def _invalid(exc: ValidationException) -> str:
    """Litestar's parameter and body checks, with what each broken field needs."""
    problems = [_problem(item) for item in (exc.extra or []) if isinstance(item, dict)]
    return "; ".join(problems) or exc.detail


def _problem(item: dict[str, Any]) -> str:
    key = item.get("key") or "body"
    if key == "data":  # Litestar's name for a body; the body's own fields are checked in entrypoints.http.bodies
        return "body: missing; this route takes a request body"
    return f"{key}: {item.get('message')}"
