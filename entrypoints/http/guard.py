"""What every ingestion route does before the pipeline: the client's address, gzip, rate limits.

Shared by ``/v1/events`` and the Segment routes, so they treat senders alike.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from typing import Any, Final
from uuid import UUID

from litestar import Request
from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_429_TOO_MANY_REQUESTS

from application.ingest.ingestion import PreparedBatch
from application.principals import Principal
from application.throttling import RateLimit, TokenBuckets
from domain.network import ProxyNetwork, client_address

__all__ = ["BodyTooLarge", "IngestGuard", "gunzipped"]

_GZIP_MAGIC: Final = b"\x1f\x8b"
_NO_LIMIT: Final = RateLimit(rate=0, burst=0)


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
    """Finds the client's address and applies the per-person, per-network and quarantine token buckets."""

    def __init__(
        self,
        *,
        trusted_proxies: tuple[ProxyNetwork, ...],
        per_user: RateLimit,
        per_network: RateLimit,
        quarantine_per_sender: RateLimit = _NO_LIMIT,
    ) -> None:
        self._trusted = trusted_proxies
        self._users = TokenBuckets(per_user)
        self._networks = TokenBuckets(per_network)
        self._quarantine = TokenBuckets(quarantine_per_sender)

    def client_ip(self, request: Request[Any, Any, Any]) -> str | None:
        """The full address, for ``Ingestion.prepare`` to anonymize at once; never logged."""
        peer = request.client.host if request.client else None
        return client_address(peer, request.headers.get("x-forwarded-for"), self._trusted)

    def admit(self, prepared: PreparedBatch) -> None:
        """Take the batch's events from its people's, network's and sender's buckets, or refuse it whole (429).

        Rejected events cost as much as accepted ones: they are read, checked
        and kept in quarantine, so a sender cannot send broken events for free.
        """
        sender = prepared.sender.label if prepared.sender else "unknown"
        if prepared.quarantine:
            _refuse_after(
                self._quarantine.take(sender, len(prepared.quarantine)),
                "too many rejected events from this sender to keep in quarantine; fix the events",
            )
        waits = [self._users.take(key, n) for key, n in _charges(prepared).items()]
        if prepared.network is not None:
            waits.append(self._networks.take(prepared.network, len(prepared.valid) + len(prepared.rejected)))
        _refuse_after(max(waits, default=0.0), "too many events from one person or network")


def _charges(prepared: PreparedBatch) -> Counter[str]:
    """Events per bucket key: each accepted one to its person, each rejected one to whoever is charged for it."""
    charges = Counter(str(e.user_id) for e, _ in prepared.valid)
    sender = prepared.sender
    for item in prepared.quarantine:
        charges[_charged_for(sender, item.app_user_id)] += 1
    # A rejection not kept in quarantine (none over HTTP) still costs its sender.
    unkept = len(prepared.rejected) - len(prepared.quarantine)
    if unkept > 0:
        charges[_charged_for(sender, None)] += unkept
    return charges


def _charged_for(sender: Principal | None, named: UUID | None) -> str:
    """A user token pays for all it sends; a server-side sender's rejected event costs the person it names."""
    if sender is None:
        return "unknown"
    if sender.role == "user":
        own = sender.subject_uuid()
        return str(own) if own is not None else sender.label  # the key of the person's accepted events
    return str(named) if named is not None else sender.label


def _refuse_after(wait: float, why: str) -> None:
    """429 with Retry-After when a bucket said to wait."""
    if wait <= 0:
        return
    retry_after = "3600" if math.isinf(wait) else str(max(1, math.ceil(wait)))
    raise TooManyRequests(
        detail=f"{why}; retry after {retry_after} s, or send fewer", headers={"Retry-After": retry_after}
    )
