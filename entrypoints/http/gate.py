"""The gate every /api request passes, in this order: a valid bearer token (401), the policy table of
``application.api_access.policy`` (403), the per-user quota counted in the database (429). OPTIONS passes
untouched: Litestar answers it with ``Allow`` and nothing else.

Refusals (401, 403) are limited per anonymised network and per caller (application.api_access.denials):
past the limit the gate answers 429 at once, and the access log counts them instead of writing a row each.

Routes learn who was let in, and about whom they asked, through the ``principal`` and ``person``
dependencies provided here.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
from datetime import UTC, datetime
from typing import Any, Final
from uuid import UUID

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException
from litestar.handlers import BaseRouteHandler
from litestar.status_codes import HTTP_403_FORBIDDEN, HTTP_429_TOO_MANY_REQUESTS

from application.api_access.denials import UNKNOWN_NETWORK, DenialLimits
from application.api_access.people import UNKEYED, PersonHashes
from application.api_access.policy import POLICY, Rule, decide, rule_of
from application.api_access.ports import QuotaDecision
from application.batching import Batcher
from application.principals import Principal
from application.rechain import rechain
from domain.network import InvalidAddress, anonymize_ip, client_address
from entrypoints.bootstrap import API_WINDOW_SECONDS, Container
from entrypoints.http import params
from entrypoints.http.auth import VerifiedTokens, authenticate
from entrypoints.http.errors import ApiError

_READERS_OF_OTHERS: Final = frozenset({"admin", "auditor"})
_KEPT_KEYS: Final = 100_000  # callers whose principal_key is remembered: as many as the tokens kept (auth.py)

__all__ = ["PRINCIPAL_PURPOSE", "Gate", "admitted_person", "admitted_principal", "principal_key"]


PRINCIPAL_PURPOSE: Final = b"addvalue api principal"  # what the key store derives the principal secrets for


def principal_key(secrets: list[bytes], principal: Principal) -> str:
    """A keyed hash of who is calling: stable per person, meaningless without the service's key.

    ``secrets``: one per root secret, oldest first. Under the first root, then each later root steps the hash on
    (application.rechain), so records written before ``addvalue keys rotate-root`` can be linked to later ones by
    whoever holds the key store, and by nobody with a retired root alone.
    """
    digest = hmac.new(secrets[0], f"{principal.role}:{principal.subject}".encode(), hashlib.sha256).digest()[:16]
    for secret in secrets[1:]:
        digest = rechain(secret, digest)[:16]
    return digest.hex()


class Gate:
    """Authentication, the policy and the quota, for every route; remembers who called for the access log."""

    def __init__(self, container: Container, tokens: VerifiedTokens) -> None:
        self._tokens = tokens
        # Where a hit is one quick statement (PostgreSQL), it is counted on the event loop, as the per-person reads
        # are: the hop to the batcher's thread and back cost more than the statement (bench/api.py at 500/s: 1.67
        # instead of 1.84 ms of server CPU per answer, alternated runs). Elsewhere (SQLite, whose writers sleep
        # while another holds the lock) the hits of concurrent requests are counted in one transaction in a
        # thread (application.batching).
        self._rate = container.api_rate
        self._quota: Batcher[tuple[str, datetime], QuotaDecision] | None = (
            None if self._rate.counts_inline else Batcher(self._rate.hit_many, name="api-quota")
        )
        # From the key store's root secrets, which stay the same when the master key is rotated.
        self._secrets = container.keys.derived_secrets(PRINCIPAL_PURPOSE)
        self._window = API_WINDOW_SECONDS
        self._trusted = container.settings.trusted_proxies
        self._denials = DenialLimits(container.settings.refusal_limit)
        self._people = PersonHashes(container.keys)
        # principal_key per caller, computed once: the secrets are fixed for the gate's life (an HMAC per
        # request was 1.5% of the server's time in bench/api.py).
        self._keys: dict[tuple[str, str], str] = {}

    def __deepcopy__(self, memo: dict[int, Any]) -> Gate:
        return self  # Litestar copies a router's guards when it is registered; the container is shared

    async def guard(self, connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        """Litestar guard, run before parameters and body are read: token (401), user_id (400), policy (403),
        quota (429). The WebSocket route checks its own token, to close with a code instead."""
        if connection.scope["type"] == ScopeType.WEBSOCKET:
            return
        if connection.scope["method"] == "OPTIONS":
            # Litestar's own OPTIONS handler: 204 and the route's Allow, no data. A browser's preflight
            # carries no token, and probing methods must not cost quota or a row in the access log.
            return
        network = self._network(connection)
        connection.scope["state"]["audit_network"] = network
        try:
            principal = authenticate(self._tokens, connection.headers)
        except NotAuthorizedException:
            self._limit_refusals(network, None)
            raise
        await self.admit(connection, principal, handler.handler_name)

    async def admit(
        self,
        connection: ASGIConnection[Any, Any, Any, Any],
        principal: Principal,
        route: str,
        table: dict[str, Rule] = POLICY,
    ) -> None:
        """What follows authentication, for a bearer token or a dashboard session alike: the ``user_id`` asked
        about (400), the rule of ``route`` in ``table`` (403), the quota (429); remembered for the access log."""
        network = connection.scope["state"].setdefault("audit_network", self._network(connection))
        key = self._key_of(principal)
        connection.scope["state"]["audit"] = (await self._logged_as(principal, key), principal.role)
        asked = connection.path_params.get("user_id") or connection.query_params.get("user_id")
        own_only = rule_of(route, table).own_only
        if table is not POLICY and asked is None and principal.role in own_only:  # a page about oneself: /me
            asked = principal.subject
        must_name = own_only and table is POLICY  # an /api route about one person needs user_id (400)
        about = params.uuid("user_id", asked) if asked is not None or must_name else None
        if about is not None and principal.role in _READERS_OF_OTHERS:
            # Whose data an admin or auditor read, keyed per person (unlinkable once they are erased).
            connection.scope["state"]["audit_about"] = await asyncio.to_thread(self._people, about)
        decision = decide(route, principal, about, table=table)
        if not decision.allowed:
            self._limit_refusals(network, key)
            raise ApiError(HTTP_403_FORBIDDEN, "forbidden", decision.reason)
        await self._count(key, connection.scope["state"])
        connection.scope["state"]["admitted"] = (principal, about)

    def _key_of(self, principal: Principal) -> str:
        caller = (principal.role, principal.subject)
        key = self._keys.get(caller)
        if key is None:
            if len(self._keys) >= _KEPT_KEYS:
                del self._keys[next(iter(self._keys))]  # the oldest: bounded by the callers of the last while
            key = self._keys[caller] = principal_key(self._secrets, principal)
        return key

    async def _logged_as(self, principal: Principal, key: str) -> str:
        """The access log's name for the caller: an app user's hash under their own key (so their erasure makes
        it unlinkable); the service-keyed hash for staff and services, who are not erased."""
        if principal.role != "user":
            return key
        person = principal.subject_uuid()
        if person is None:  # the policy refuses such a user; the record still needs a name
            return "person:" + UNKEYED
        known = self._people.known(person)  # most requests: no hop to a thread and back
        return known if known is not None else await asyncio.to_thread(self._people, person)

    def _network(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        """The caller's anonymised network (/24, /48), as ingestion buckets it; ``unknown`` without an address."""
        peer = connection.client.host if connection.client else None
        address = client_address(peer, connection.headers.get("x-forwarded-for"), self._trusted)
        try:
            return UNKNOWN_NETWORK if address is None else anonymize_ip(address)
        except InvalidAddress:  # a test client's "testclient", a Unix socket
            return UNKNOWN_NETWORK

    def _limit_refusals(self, network: str, caller: str | None) -> None:
        """Let this refusal through as 401/403, or answer 429 when the network or caller is refused too often."""
        wait = self._denials.take(network, caller)
        if wait > 0:
            retry = str(max(1, math.ceil(wait)))
            raise ApiError(
                HTTP_429_TOO_MANY_REQUESTS,
                "rate_limited",
                f"too many refused requests from this network or caller; retry in {retry} s",
                headers={"Retry-After": retry},
            )

    async def _count(self, key: str, state: dict[str, Any]) -> None:
        """One more request of this caller's hourly quota; the RateLimit headers go to the access log's middleware."""
        now = datetime.now(UTC)
        quota = self._rate.hit(key, now) if self._quota is None else await self._quota.submit_waiting((key, now))
        # Reset: when the current hour-long window ends (the sliding count has shed most of it by then).
        window_end = self._window - int(now.timestamp()) % self._window
        headers = {
            "RateLimit-Limit": str(quota.limit),
            "RateLimit-Remaining": str(quota.remaining),
            "RateLimit-Reset": str(quota.retry_after if not quota.allowed and quota.retry_after else window_end),
        }
        state["rate_headers"] = headers
        if not quota.allowed:
            retry = str(quota.retry_after or quota.reset_seconds)
            raise ApiError(
                HTTP_429_TOO_MANY_REQUESTS,
                "rate_limited",
                f"at most {quota.limit} requests per hour; retry in {retry} s",
                headers={**headers, "Retry-After": retry},
            )


def admitted_principal(request: Request[Any, Any, Any]) -> Principal:
    """Who the gate let in (a dependency of the /api routes)."""
    principal: Principal = request.scope["state"]["admitted"][0]
    return principal


def admitted_person(request: Request[Any, Any, Any]) -> UUID:
    """The person the request is about (a dependency of the routes whose policy names one)."""
    person: UUID | None = request.scope["state"]["admitted"][1]
    assert person is not None, "the policy of a route about one person requires user_id"
    return person
