"""What every ingestion route does before the pipeline: the client's address, gzip, rate limits.

Shared by ``/v1/events`` and the Segment routes, so they treat senders alike.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from typing import Any, Final

from litestar import Request
from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_429_TOO_MANY_REQUESTS

from application.ingest.ingestion import PreparedBatch
from application.ingest.throttling import RateLimit, TokenBuckets
from domain.network import ProxyNetwork, client_address

__all__ = ["BodyTooLarge", "IngestGuard", "gunzipped"]

_GZIP_MAGIC: Final = b"\x1f\x8b"


class BodyTooLarge(Exception):
    """The body, once decompressed, is over the route's limit."""


class TooManyRequests(HTTPException):
    """A sender or network is over its rate; ``headers`` carry Retry-After."""

    status_code = HTTP_429_TOO_MANY_REQUESTS


def gunzipped(body: bytes, content_encoding: str, *, limit: int) -> bytes:
    """The body, gunzipped when the header says gzip or the bytes start as gzip does.

    Decompression stops at ``limit`` + 1 bytes, so a small gzip bomb cannot
    make a large body. Raises HTTP 400 for another encoding or broken gzip,
    and :class:`BodyTooLarge` when the result is over ``limit``.
    """
    encodings = {e.strip().lower() for e in content_encoding.split(",")} - {"", "identity"}
    if encodings - {"gzip", "x-gzip"}:
        raise HTTPException(
            status_code=HTTP_400_BAD_REQUEST,
            detail=f"Content-Encoding '{content_encoding}' is not supported: send gzip or nothing",
        )
    if not encodings and not body.startswith(_GZIP_MAGIC):
        if len(body) > limit:
            raise BodyTooLarge
        return body
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(body, limit + 1)
    except zlib.error as e:
        raise HTTPException(status_code=HTTP_400_BAD_REQUEST, detail=f"request body is not valid gzip: {e}") from None
    if len(body) > limit:
        raise BodyTooLarge
    if not inflater.eof or inflater.unused_data:
        raise HTTPException(
            status_code=HTTP_400_BAD_REQUEST, detail="request body is not valid gzip: truncated, or data after its end"
        )
    return body


class IngestGuard:
    """Finds the client's address and applies the per-person and per-network token buckets."""

    def __init__(
        self, *, trusted_proxies: tuple[ProxyNetwork, ...], per_user: RateLimit, per_network: RateLimit
    ) -> None:
        self._trusted = trusted_proxies
        self._users = TokenBuckets(per_user)
        self._networks = TokenBuckets(per_network)

    def client_ip(self, request: Request[Any, Any, Any]) -> str | None:
        """The full address, for ``Ingestion.prepare`` to anonymize at once; never logged."""
        peer = request.client.host if request.client else None
        return client_address(peer, request.headers.get("x-forwarded-for"), self._trusted)

    def admit(self, prepared: PreparedBatch) -> None:
        """Take the batch's events from its people's and network's buckets, or refuse it whole (429)."""
        waits = [self._users.take(str(user), n) for user, n in Counter(e.user_id for e, _ in prepared.valid).items()]
        if prepared.network is not None:
            waits.append(self._networks.take(prepared.network, len(prepared.valid) + len(prepared.rejected)))
        wait = max(waits, default=0.0)
        if wait > 0:
            retry_after = "3600" if math.isinf(wait) else str(max(1, math.ceil(wait)))
            raise TooManyRequests(
                detail=f"too many events from one person or network; retry after {retry_after} s, or send fewer",
                headers={"Retry-After": retry_after},
            )
