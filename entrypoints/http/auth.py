"""Bearer authentication for every route that takes a token, and the cache of tokens verified recently.

A device sends many batches, and a dashboard many requests, with one token: it is verified once, then
kept (never past its ``exp``; at most 60 s when its key comes from a JWKS).
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Mapping
from typing import Final

import msgspec
from litestar.exceptions import NotAuthorizedException

from adapters.api_access.tokens import InvalidToken
from application.principals import Principal

__all__ = ["VerifiedTokens", "authenticate", "expires_at"]

_KEEP_TOKENS_SECONDS: Final = 60.0
# As many as the people whose subject and access-log hash are kept (application.api_access.people): at 100,000
# people a bound of 20,000 verified most tokens again. ~600 bytes each with its text and principal (tracemalloc,
# a 265-byte token): 60 MB per worker at most.
_KEPT_TOKENS: Final = 100_000


class _Expiry(msgspec.Struct):
    exp: float


_EXPIRY: Final = msgspec.json.Decoder(_Expiry)


class VerifiedTokens:
    """Tokens verified recently, by their exact text: a repeat caller's token is not checked again for
    ``keep_for`` seconds, and never past its own ``exp`` (without the verifier's leeway), so nothing is let in
    that ``verify`` would refuse. Only verified tokens are kept; at most ``max_tokens`` of them.

    A token for which ``valid_until_expiry`` says so (signed with the service's own secret) is kept until its
    ``exp``: with 10,000 people each serve worker saw a person about once a minute in bench/api.py, so a 60 s
    bound verified most of their tokens again (PyJWT's decode, ~10% of the server's time). The bound stays for
    tokens from a JWKS, whose keys the identity provider may withdraw."""

    def __init__(
        self,
        verify: Callable[[str], Principal],
        *,
        keep_for: float = _KEEP_TOKENS_SECONDS,
        max_tokens: int = _KEPT_TOKENS,
        clock: Callable[[], float] = time.time,
        valid_until_expiry: Callable[[str], bool] | None = None,
    ) -> None:
        self._verify = verify
        self._valid_until_expiry = valid_until_expiry or (lambda _: False)
        self._keep_for = keep_for
        self._max = max_tokens
        self._clock = clock
        self._kept: dict[str, tuple[float, Principal]] = {}

    def verify(self, token: str) -> Principal:
        now = self._clock()
        kept = self._kept.get(token)
        if kept is not None:
            if now < kept[0]:
                return kept[1]
            del self._kept[token]
        principal = self._verify(token)  # raises InvalidToken
        expiry = _expiry(token)
        until = expiry if self._valid_until_expiry(token) else min(now + self._keep_for, expiry)
        if until > now:
            if len(self._kept) >= self._max:
                # The oldest goes, not all: at 10,000 callers, clearing made every one of them verified again.
                del self._kept[next(iter(self._kept))]
            self._kept[token] = (until, principal)
        return principal


def authenticate(tokens: VerifiedTokens, headers: Mapping[str, str]) -> Principal:
    """Who sent ``Authorization: Bearer <token>``; 401 otherwise. Never from the URL (proxies log queries);
    the WebSocket's other way in, the ``bearer`` subprotocol, is read by ``socket_gate``."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise NotAuthorizedException("send 'Authorization: Bearer <token>'")
    try:
        return tokens.verify(token.strip())
    except InvalidToken as e:
        raise NotAuthorizedException(str(e)) from None


def expires_at(token: str) -> float:
    """The ``exp`` (seconds since the epoch) of a token ``verify`` accepted; the WebSocket closes then."""
    return _expiry(token)


def _expiry(token: str) -> float:
    """The ``exp`` of a token ``verify`` accepted (so it is well formed); 0 if it cannot be read."""
    try:
        payload = token.split(".")[1]
        return _EXPIRY.decode(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).exp
    except (IndexError, ValueError, binascii.Error, msgspec.DecodeError):
        return 0.0
