"""The HTTP interface (Litestar): ingestion, health and readiness.

Errors are translated here, once: a client's mistake is a 4xx with a message
that says what to fix; nothing a client can send produces a 500.
"""

from __future__ import annotations

import asyncio
import os
from http import HTTPStatus
from typing import Any, Final

import anyio.to_thread
import msgspec
import structlog
from eventsourcing.persistence import PersistenceError
from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from adapters.api_access.tokens import InvalidToken
from application.errors import StorageError
from application.ingest.ingestion import IngestReport
from application.principals import Principal
from domain.catalog import AwareDatetime
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.http.api import VerifiedTokens, api_router
from entrypoints.http.guard import BodyTooLarge, IngestGuard, gunzipped
from entrypoints.http.sources import segment_router
from entrypoints.logging import configure_logging
from entrypoints.runtime import started, tune_for_serving
from entrypoints.scheduler import scheduler_for
from entrypoints.settings import load_settings

__all__ = ["MAX_BATCH_BYTES", "MAX_BATCH_EVENTS", "app_from_environment", "create_app"]

MAX_BATCH_BYTES: Final = 1024 * 1024
MAX_BATCH_EVENTS: Final = 1000

_TOO_LARGE: Final = f"request body is over {MAX_BATCH_BYTES} bytes (1 MiB), gunzipped; send smaller batches"

log = structlog.get_logger(__name__)


class Batch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    batch: list[msgspec.Raw]
    sent_at: AwareDatetime | None = None


class Problem(msgspec.Struct, frozen=True):
    error: str
    detail: str


class ClientError(HTTPException):
    """A request we must refuse whole; ``status_code`` and message say why."""


_BATCH_DECODER: Final = msgspec.json.Decoder(Batch)


def _principal(tokens: VerifiedTokens, request: Request[Any, Any, Any]) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise NotAuthorizedException("send 'Authorization: Bearer <token>'")
    try:
        return tokens.verify(token.strip())
    except InvalidToken as e:
        raise NotAuthorizedException(str(e)) from None


def _decode_batch(body: bytes) -> Batch:
    try:
        batch = _BATCH_DECODER.decode(body)
    except msgspec.ValidationError as e:
        raise ClientError(status_code=HTTP_400_BAD_REQUEST, detail=f"request body: {e}") from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as e:  # msgspec: too deeply nested
        raise ClientError(status_code=HTTP_400_BAD_REQUEST, detail=f"request body is not valid JSON: {e}") from None
    if len(batch.batch) > MAX_BATCH_EVENTS:
        raise ClientError(
            status_code=HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            detail=f"batch has {len(batch.batch)} events; at most {MAX_BATCH_EVENTS} allowed",
        )
    if not batch.batch:
        raise ClientError(status_code=HTTP_400_BAD_REQUEST, detail="batch: must hold 1 to 1000 events")
    return batch


def create_app(container: Container, *, run_jobs: bool = True) -> Litestar:
    """The service's HTTP app; ``run_jobs`` also starts the scheduled projection jobs."""
    settings = container.settings
    run_jobs = run_jobs and settings.serve_projections
    # A device sends many batches with one token: verified once, then kept (at most 60 s, never past exp).
    tokens = VerifiedTokens(container.tokens.verify)
    guard = IngestGuard(
        trusted_proxies=settings.trusted_proxies,
        per_user=settings.rate_limit_user,
        per_network=settings.rate_limit_network,
    )

    @post("/v1/events", status_code=200)
    async def ingest_events(request: Request[Any, Any, Any]) -> IngestReport:
        """Store a batch of catalog events; answer with the outcome of each."""
        principal = _principal(tokens, request)
        try:
            body = gunzipped(await request.body(), request.headers.get("content-encoding", ""), limit=MAX_BATCH_BYTES)
        except BodyTooLarge:
            raise ClientError(status_code=HTTP_413_REQUEST_ENTITY_TOO_LARGE, detail=_TOO_LARGE) from None
        batch = _decode_batch(body)
        prepared = container.ingestion.prepare(
            [bytes(raw) for raw in batch.batch],
            sent_at=batch.sent_at,
            principal=principal,
            client_ip=guard.client_ip(request),
        )
        guard.admit(prepared)
        # Written by the group-commit thread with other requests' events; this
        # coroutine waits without blocking the event loop until it has committed.
        return await asyncio.wrap_future(container.group_commit.submit(prepared))

    @get("/health", media_type=MediaType.JSON)
    async def health() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @get("/ready", media_type=MediaType.JSON)
    async def ready() -> Response[dict[str, str]]:
        """The database answers."""
        if await anyio.to_thread.run_sync(container.database_ready):
            return Response({"status": "ready"})
        return Response({"status": "database unreachable"}, status_code=HTTP_503_SERVICE_UNAVAILABLE)

    scheduler = scheduler_for(container)
    return Litestar(
        route_handlers=[ingest_events, health, ready, segment_router(container, guard), api_router(container)],
        on_startup=[container.group_commit.start, *([scheduler.start] if run_jobs else [])],
        on_shutdown=[*([scheduler.stop] if run_jobs else []), container.group_commit.stop],
        request_max_body_size=MAX_BATCH_BYTES,
        exception_handlers={
            HTTPException: _http_problem,
            StorageError: _storage_problem,
            PersistenceError: _storage_problem,
            Exception: _unexpected_problem,
        },
        debug=False,
        openapi_config=OpenAPIConfig(
            title="AddValue Analytics",
            version="1",
            components=Components(
                security_schemes={"BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")}
            ),
        ),
    )


def app_from_environment() -> Litestar:
    """One worker of ``addvalue serve --workers N``: its own container, from the environment's settings."""
    configure_logging(os.environ.get("ADDVALUE_LOG_LEVEL", "info"))
    tune_for_serving()  # as in a single-process serve
    container = bootstrap(load_settings())
    started()
    app = create_app(container)
    app.on_shutdown.append(container.close)
    return app


def _problem(status: int, error: str, detail: str) -> Response[Problem]:
    headers = {}
    if status == HTTP_401_UNAUTHORIZED:
        headers["WWW-Authenticate"] = 'Bearer realm="addvalue"'
    if status == HTTP_503_SERVICE_UNAVAILABLE:
        headers["Retry-After"] = "1"
    return Response(Problem(error=error, detail=detail), status_code=status, headers=headers)


def _http_problem(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    detail = exc.detail
    if exc.status_code == HTTP_413_REQUEST_ENTITY_TOO_LARGE and not isinstance(exc, ClientError):
        detail = _TOO_LARGE
    response = _problem(exc.status_code, _reason(exc.status_code), detail)
    for name, value in (exc.headers or {}).items():  # Retry-After of a 429
        response.headers[name] = value
    return response


def _storage_problem(_: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.error("storage.unavailable", error=str(exc))
    return _problem(HTTP_503_SERVICE_UNAVAILABLE, "storage unavailable", "nothing was stored; retry later")


def _unexpected_problem(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.exception("request.failed", path=request.url.path, error=repr(exc))
    return _problem(HTTP_500_INTERNAL_SERVER_ERROR, "internal error", "the request failed on our side")


def _reason(status: int) -> str:
    return HTTPStatus(status).phrase.lower()
