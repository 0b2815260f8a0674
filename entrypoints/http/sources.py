"""The Segment-compatible HTTP routes: what Segment and RudderStack SDKs post to.

``POST /v1/batch`` and ``/v1/b`` take a batch; ``/v1/track``, ``/v1/identify``,
``/v1/screen``, ``/v1/page``, ``/v1/alias`` and ``/v1/group`` take one message;
``GET /v1/projects/{writeKey}/settings`` answers the mobile SDKs' start-up call.
The write key comes as the HTTP Basic username or as ``writeKey`` in the body.
A body may be gzip whatever its content type says. A request refused whole is a
400 or 401 (SDKs drop a batch on a 4xx and retry on a 5xx); everything else is a
200 with the outcome of each message. See ``docs/sdk.md``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Any, Final

import msgspec
from litestar import Request, Router, get, post
from litestar.exceptions import ClientException, NotAuthorizedException, NotFoundException
from litestar.params import FromPath, SkipValidation
from litestar.status_codes import HTTP_400_BAD_REQUEST

from application.ingest.ingestion import IngestReport, PreparedBatch, Rejection
from application.sources.intake import (
    MAX_BATCH_MESSAGES,
    InvalidSegmentRequest,
    SegmentRequest,
    parse_batch,
    parse_message,
)
from entrypoints.bootstrap import Container
from entrypoints.http.dependencies import Services
from entrypoints.http.document import WRITE_KEY, segment_batch_body, segment_message_body
from entrypoints.http.errors import segment_errors, segment_responses
from entrypoints.http.guard import BodyTooLarge, IngestGuard, gunzipped

__all__ = ["MAX_SEGMENT_BODY_BYTES", "SegmentReport", "segment_router"]

# Segment's 500 KB per batch, read generously as KiB; its SDKs stay under 475,000 bytes.
MAX_SEGMENT_BODY_BYTES: Final = 500 * 1024
_TOO_LARGE: Final = (
    f"request body is over {MAX_SEGMENT_BODY_BYTES} bytes (500 KiB), before or after gzip; send smaller batches"
)
_MESSAGE_ROUTES: Final = ("track", "identify", "screen", "page", "alias", "group")

Guard = SkipValidation[IngestGuard]
# A body too large is a 400 here, as at Segment (errors.segment_errors); a write key may come in the body instead.
_REFUSALS: Final = segment_responses(400, 401, 429, 503)


class SegmentReport(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of each message; ``ignored`` counts identify messages that had nothing to record."""

    success: bool
    accepted: int
    duplicates: int
    rejected: list[Rejection]
    not_collected: int
    ignored: int


@post(
    ["/v1/batch", "/v1/b"],
    status_code=200,
    security=[{WRITE_KEY: []}],
    operation_class=segment_batch_body(MAX_BATCH_MESSAGES, MAX_SEGMENT_BODY_BYTES),
    responses=_REFUSALS,
)
async def batch(request: Request[Any, Any, Any], container: Services, guard: Guard) -> SegmentReport:
    """A batch of Segment messages; answers with the outcome of each."""
    return await _ingest(request, container, guard, None)


@post(
    [f"/v1/{kind}" for kind in _MESSAGE_ROUTES],
    status_code=200,
    security=[{WRITE_KEY: []}],
    operation_class=segment_message_body(MAX_SEGMENT_BODY_BYTES),
    responses=_REFUSALS,
)
async def one_message(request: Request[Any, Any, Any], container: Services, guard: Guard) -> SegmentReport:
    """One Segment message, its type given by the path."""
    return await _ingest(request, container, guard, request.url.path.rstrip("/").rsplit("/", 1)[-1])


@get("/v1/projects/{write_key:str}/settings", responses=segment_responses(404))
async def sdk_settings(container: Services, write_key: FromPath[str]) -> dict[str, Any]:
    """What Segment's mobile SDKs fetch at start: their Segment destination, enabled for a known key."""
    if container.write_keys.source_of(write_key) is None:
        raise NotFoundException("no source has this write key")
    return {"integrations": {"Segment.io": {"apiKey": write_key}}}


def segment_router() -> Router:
    """The routes, with their own body limit and error answers (a body too large is a 400 here, as at Segment)."""
    return Router(
        path="/",
        route_handlers=[batch, one_message, sdk_settings],
        request_max_body_size=MAX_SEGMENT_BODY_BYTES,
        exception_handlers=segment_errors(too_large=_TOO_LARGE),
    )


async def _ingest(
    request: Request[Any, Any, Any], container: Container, guard: IngestGuard, message_type: str | None
) -> SegmentReport:
    header_key = _basic_username(request)
    source = _source(container, header_key) if header_key is not None else None  # refuse early
    body = _decompressed(await request.body(), request.headers.get("content-encoding", ""))
    parsed = _parsed(body, message_type)
    source = source or _source(container, parsed.write_key)
    prepared = container.segment.prepare(parsed, source=source, client_ip=guard.client_ip(request))
    guard.admit(prepared.batch)
    report = await _committed(container, prepared.batch)
    return SegmentReport(
        success=True,
        accepted=report.accepted,
        duplicates=report.duplicates,
        rejected=report.rejected,
        not_collected=report.not_collected,
        ignored=prepared.ignored,
    )


async def _committed(container: Container, prepared: PreparedBatch) -> IngestReport:
    # Written by the group-commit thread with other requests' events, as /v1/events is.
    return await asyncio.wrap_future(container.group_commit.submit(prepared))


def _basic_username(request: Request[Any, Any, Any]) -> str | None:
    """The write key from ``Authorization: Basic base64(key:)``; None without the header."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "basic":
        raise NotAuthorizedException("send the write key as the HTTP Basic username with an empty password")
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise NotAuthorizedException("the Basic credentials are not base64 of '<write key>:'") from None
    return decoded.partition(":")[0]


def _source(container: Container, key: str | None) -> str:
    if not key:
        raise NotAuthorizedException(
            "no write key: send it as the HTTP Basic username (empty password) or as 'writeKey' in the body"
        )
    source = container.write_keys.source_of(key)
    if source is None:
        raise NotAuthorizedException("unknown write key: use a key listed in ADDVALUE_WRITE_KEYS")
    return source


def _decompressed(body: bytes, content_encoding: str) -> bytes:
    """The body, gunzipped when the header says gzip or the bytes do (Kotlin sends text/plain)."""
    try:
        return gunzipped(body, content_encoding, limit=MAX_SEGMENT_BODY_BYTES)
    except BodyTooLarge:
        raise _bad_request(_TOO_LARGE) from None


def _parsed(body: bytes, message_type: str | None) -> SegmentRequest:
    try:
        return parse_batch(body) if message_type is None else parse_message(body, message_type)
    except InvalidSegmentRequest as e:
        raise _bad_request(str(e)) from None


def _bad_request(detail: str) -> ClientException:
    return ClientException(status_code=HTTP_400_BAD_REQUEST, detail=detail)
