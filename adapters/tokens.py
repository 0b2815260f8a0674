"""HS256 bearer tokens with PyJWT, verified strictly.

PyJWT accepts a token without ``exp``, ``aud`` or ``iss`` unless told to
require them, so every claim we rely on is required here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final, get_args

import jwt

from application.principals import Principal, Role

__all__ = ["InvalidToken", "JwtTokens"]

_ROLES: Final = frozenset(get_args(Role))


class InvalidToken(Exception):
    """The bearer token is missing, malformed, expired, or not ours; the message says which."""


class JwtTokens:
    def __init__(self, secret: str, *, issuer: str, audience: str) -> None:
        self._secret = secret
        self._issuer = issuer
        self._audience = audience

    def verify(self, token: str) -> Principal:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
                leeway=30,
            )
        except jwt.PyJWTError as e:
            raise InvalidToken(f"invalid bearer token: {e}") from None
        role = claims.get("role", "user")
        if role not in _ROLES:
            raise InvalidToken(f"invalid bearer token: unknown role {role!r}")
        return Principal(subject=str(claims["sub"]), role=role)

    def mint(self, subject: str, role: Role, *, valid_for: timedelta = timedelta(hours=12)) -> str:
        """For development and tests: a token this service will accept."""
        now = datetime.now(UTC)
        claims = {
            "sub": subject,
            "role": role,
            "iss": self._issuer,
            "aud": self._audience,
            "iat": now,
            "exp": now + valid_for,
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")
