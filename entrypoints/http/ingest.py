"""``POST /v1/events``: the app's own batches of catalog events, answered with the outcome of each."""

from __future__ import annotations

import asyncio
from typing import Any, Final

import msgspec
from litestar import Request, post
from litestar.params import SkipValidation
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_413_REQUEST_ENTITY_TOO_LARGE

from application.ingest.ingestion import IngestReport
from domain.catalog import AwareDatetime
from entrypoints.http.auth import VerifiedTokens, authenticate
from entrypoints.http.dependencies import Services
from entrypoints.http.document import BEARER, events_body
from entrypoints.http.errors import ApiError, plain_responses
from entrypoints.http.guard import BodyTooLarge, IngestGuard, gunzipped

__all__ = ["MAX_BATCH_BYTES", "MAX_BATCH_EVENTS", "TOO_LARGE", "ingest_events"]

MAX_BATCH_BYTES: Final = 1024 * 1024
MAX_BATCH_EVENTS: Final = 1000

TOO_LARGE: Final = f"request body is over {MAX_BATCH_BYTES} bytes (1 MiB), gunzipped; send smaller batches"


class Batch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    batch: list[msgspec.Raw]
    sent_at: AwareDatetime | None = None


_BATCH_DECODER: Final = msgspec.json.Decoder(Batch)


@post(
    "/v1/events",
    status_code=200,
    security=[{BEARER: []}],
    operation_class=events_body(MAX_BATCH_EVENTS, MAX_BATCH_BYTES),
    responses=plain_responses(400, 401, 413, 429, 503),
)
async def ingest_events(
    request: Request[Any, Any, Any],
    container: Services,
    tokens: SkipValidation[VerifiedTokens],
    guard: SkipValidation[IngestGuard],
) -> IngestReport:
    """Store a batch of catalog events; answer with the outcome of each."""
    principal = authenticate(tokens, request.headers)
    try:
        body = gunzipped(await request.body(), request.headers.get("content-encoding", ""), limit=MAX_BATCH_BYTES)
    except BodyTooLarge:
        raise ApiError(HTTP_413_REQUEST_ENTITY_TOO_LARGE, "too_large", TOO_LARGE) from None
    batch = _decoded(body)
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


def _decoded(body: bytes) -> Batch:
    try:
        batch = _BATCH_DECODER.decode(body)
    except msgspec.ValidationError as e:
        raise ApiError(HTTP_400_BAD_REQUEST, "bad_request", f"request body: {e}") from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as e:  # msgspec: too deeply nested
        raise ApiError(HTTP_400_BAD_REQUEST, "bad_request", f"request body is not valid JSON: {e}") from None
    if len(batch.batch) > MAX_BATCH_EVENTS:
        raise ApiError(
            HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            "too_large",
            f"batch has {len(batch.batch)} events; at most {MAX_BATCH_EVENTS} allowed",
        )
    if not batch.batch:
        raise ApiError(HTTP_400_BAD_REQUEST, "bad_request", "batch: must hold 1 to 1000 events")
    return batch
