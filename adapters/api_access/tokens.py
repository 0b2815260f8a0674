"""Bearer tokens with PyJWT, verified strictly: HS256 from our secret, RS256/ES256 from a JWKS.

The header is checked before any signature: no ``alg: none``, no key carried or
pointed to by the token itself (``jku``, ``jwk``, ``x5u``, ``x5c``), no
extensions we do not understand (``crit``, ``b64``). An asymmetric token's key
is chosen by its ``kid`` alone, and its algorithm comes from that key's type, so
a token cannot pick how it is checked. PyJWT accepts a token without ``exp``,
``aud`` or ``iss`` unless told to require them, so every claim we rely on is
required here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Protocol, cast, get_args

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from application.principals import Principal, Role

__all__ = ["DEFAULT_MAX_LIFETIME", "InvalidToken", "JwtTokens"]

_ROLES: Final = frozenset(get_args(Role))
_ALGORITHMS: Final = frozenset({"HS256", "RS256", "ES256"})
# Headers that carry or point to a key, or change how the token is read: the issuer's keys are ours to name.
_FORBIDDEN_HEADERS: Final = ("jku", "jwk", "x5u", "x5c", "crit", "b64")
_REQUIRED_CLAIMS: Final = ["exp", "iat", "sub", "aud", "iss"]
_LEEWAY_SECONDS: Final = 30
_MAX_TOKEN_CHARS: Final = 8_192  # Supabase tokens are about 1 KB; bound the work a stranger can ask for
_MIN_RSA_BITS: Final = 2_048
_RACY_NS: Final = 2_000_000_000
DEFAULT_MAX_LIFETIME: Final = timedelta(days=30)


class InvalidToken(Exception):
    """The bearer token is missing, malformed, expired, or not ours; the message says which."""


class JwtTokens:
    """Verifies bearer tokens into a ``Principal``; mints HS256 tokens for development and tests.

    ``jwks`` is a JWKS file (re-read when it changes) or an http(s) URL (cached
    for five minutes, fetched again on an unknown ``kid`` at most once per
    ``jwks_cooldown``). ``role_claim`` names the claim holding the role, as a
    top-level name or a dotted path such as ``app_metadata.role``. A token valid for longer than
    ``max_lifetime`` (``exp`` minus ``iat``) is refused: a leaked long-lived token is a key for years.
    """

    def __init__(
        self,
        secret: str,
        *,
        issuer: str,
        audience: str,
        jwks: str | None = None,
        role_claim: str = "role",
        jwks_cooldown: timedelta = timedelta(seconds=30),
        max_lifetime: timedelta = DEFAULT_MAX_LIFETIME,
    ) -> None:
        if not role_claim or "" in role_claim.split("."):
            raise ValueError(f"role claim {role_claim!r}: write a claim name or a dotted path like app_metadata.role")
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self._role_claim = role_claim
        self._max_lifetime = max_lifetime
        self._jwks: _Jwks | None = None
        if jwks is not None:
            self._jwks = _JwksUrl(jwks, jwks_cooldown) if "://" in jwks else _JwksFile(Path(jwks))

    def verify(self, token: str) -> Principal:
        header = _checked_header(token)
        key, algorithm = self._key_for(header)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": _REQUIRED_CLAIMS},
                leeway=_LEEWAY_SECONDS,
            )
        except jwt.PyJWTError as e:
            raise InvalidToken(f"invalid bearer token: {e}") from None
        if not isinstance(claims["sub"], str) or not claims["sub"].strip():
            raise InvalidToken("invalid bearer token: the 'sub' claim is empty")
        self._check_lifetime(claims)
        return Principal(subject=claims["sub"], role=self._role(claims))

    def valid_until_expiry(self, token: str) -> bool:
        # HS256 without a ``kid`` is checked with our own secret alone (``_key_for``), which changes with a
        # restart, when every verified token is forgotten anyway. An asymmetric token's key may leave the JWKS
        # at any time, and an HS256 token's ``kid`` may appear in it (it is then refused).
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return False
        return header.get("alg") == "HS256" and "kid" not in header

    def _check_lifetime(self, claims: Mapping[str, Any]) -> None:
        # In seconds, not a timedelta: an 'exp' in the year 9999 or beyond must not overflow into a 500.
        seconds = float(claims["exp"]) - float(claims["iat"])  # PyJWT has checked that both are numbers
        if seconds > self._max_lifetime.total_seconds() + _LEEWAY_SECONDS:
            raise InvalidToken(
                f"invalid bearer token: it is valid for {seconds / 86_400:.1f} days from its 'iat'; "
                f"this service accepts at most {self._max_lifetime / timedelta(days=1):g} days"
            )

    def mint(self, subject: str, role: Role, *, valid_for: timedelta = timedelta(hours=12)) -> str:
        """For development and tests: an HS256 token this service will accept."""
        now = datetime.now(UTC)
        claims: dict[str, Any] = {
            "sub": subject,
            "iss": self._issuer,
            "aud": self._audience,
            "iat": now,
            "exp": now + valid_for,
        }
        *parents, name = self._role_claim.split(".")
        holder = claims
        for parent in parents:
            holder = holder.setdefault(parent, {})
        holder[name] = role
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def _key_for(self, header: Mapping[str, Any]) -> tuple[Any, str]:
        """The key and the one algorithm the token is checked with."""
        algorithm, kid = header["alg"], header.get("kid")
        if algorithm == "HS256":
            if kid is not None and self._jwks is not None and kid in self._jwks.kids():
                raise InvalidToken(f"invalid bearer token: HS256 with the kid '{kid}' of a public key is refused")
            return self._secret, algorithm
        if self._jwks is None:
            raise InvalidToken(f"invalid bearer token: {algorithm} needs a JWKS (ADDVALUE_JWT_JWKS), none is set")
        if kid is None:
            raise InvalidToken(f"invalid bearer token: a {algorithm} token must name its key with 'kid'")
        key = self._jwks.key(kid)
        if key is None:
            raise InvalidToken(f"invalid bearer token: unknown kid '{kid}'")
        if key.algorithm_name != algorithm:
            raise InvalidToken(f"invalid bearer token: kid '{kid}' is an {key.algorithm_name} key, not {algorithm}")
        return key.key, algorithm

    def _role(self, claims: Mapping[str, Any]) -> Role:
        """The role claim (top-level name first, then dotted path); absent means ``user``."""
        value: Any = claims
        if self._role_claim in claims:
            value = claims[self._role_claim]
        else:
            for part in self._role_claim.split("."):
                if not isinstance(value, Mapping):
                    raise InvalidToken(f"invalid bearer token: '{self._role_claim}' does not lead to a role")
                if part not in value:
                    return "user"
                value = value[part]
        if not isinstance(value, str) or value not in _ROLES:
            raise InvalidToken(f"invalid bearer token: unknown role {value!r} in '{self._role_claim}'")
        return cast(Role, value)


def _checked_header(token: str) -> dict[str, Any]:
    """The header, read unverified (PyJWT checks ``kid`` is a string and refuses unknown ``crit``)."""
    if len(token) > _MAX_TOKEN_CHARS:
        raise InvalidToken(f"invalid bearer token: longer than {_MAX_TOKEN_CHARS} characters")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as e:
        raise InvalidToken(f"invalid bearer token: {e}") from None
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm not in _ALGORITHMS:
        raise InvalidToken(f"invalid bearer token: algorithm {algorithm!r} is not one of HS256, RS256, ES256")
    if present := [name for name in _FORBIDDEN_HEADERS if name in header]:
        raise InvalidToken(f"invalid bearer token: header {', '.join(present)} refused; keys come from our JWKS")
    return header


class _Jwks(Protocol):
    def key(self, kid: str) -> jwt.PyJWK | None: ...
    def kids(self) -> frozenset[str]: ...


def _algorithm_of(key: jwt.PyJWK) -> str | None:
    """RS256 for an RSA public key of 2048+ bits, ES256 for a P-256 public key; None for anything else."""
    material = key.key
    if isinstance(material, RSAPublicKey) and material.key_size >= _MIN_RSA_BITS:
        return "RS256"
    if isinstance(material, EllipticCurvePublicKey) and isinstance(material.curve, SECP256R1):
        return "ES256"
    return None


def _usable(keys: jwt.PyJWKSet | list[jwt.PyJWK]) -> dict[str, jwt.PyJWK]:
    """Signing keys by kid, when the key's type agrees with its ``alg`` (if any); symmetric keys never."""
    return {
        key.key_id: key
        for key in keys
        if key.key_id and key.public_key_use in ("sig", None) and _algorithm_of(key) == key.algorithm_name
    }


class _JwksFile:
    """A JWKS file, read again whenever it changes (another inode, size or modification time)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stamp: tuple[int, int, int] | None = None
        self._racy = False
        self._keys: dict[str, jwt.PyJWK] = {}
        self._reload()
        if not self._keys:
            raise ValueError(f"JWKS file {path}: no RSA (2048+ bits) or P-256 EC public signing key with a kid")

    def key(self, kid: str) -> jwt.PyJWK | None:
        self._reload()
        return self._keys.get(kid)

    def kids(self) -> frozenset[str]:
        self._reload()
        return frozenset(self._keys)

    def _reload(self) -> None:
        """Re-read a changed file; one caught mid-write, or left with no usable key, keeps the keys read before."""
        try:
            status = os.stat(self._path)
            stamp = (status.st_ino, status.st_mtime_ns, status.st_size)
            if stamp == self._stamp and not self._racy:
                return
            # File times tick in milliseconds: a file changed just before we read it may change again unseen.
            self._stamp, self._racy = stamp, time.time_ns() - status.st_mtime_ns < _RACY_NS
            keys = _usable(jwt.PyJWKSet.from_json(self._path.read_text()))
        except (OSError, ValueError, jwt.PyJWTError) as e:
            if not self._keys:
                raise ValueError(f"JWKS file {self._path}: {e}") from None
            return
        self._keys = keys or self._keys


class _JwksUrl:
    """A JWKS endpoint, through PyJWT's client: cached five minutes, refreshed on an unknown kid after a cooldown."""

    def __init__(self, url: str, cooldown: timedelta) -> None:
        try:
            self._client = jwt.PyJWKClient(url, lifespan=300, timeout=5, cooldown_duration=cooldown.total_seconds())
        except jwt.PyJWKClientError as e:
            raise ValueError(f"JWKS URL {url}: {e}") from None

    def key(self, kid: str) -> jwt.PyJWK | None:
        try:
            found = self._client.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError as e:
            raise InvalidToken(f"invalid bearer token: cannot fetch the JWKS to check it: {e}") from None
        except jwt.PyJWTError as e:
            raise InvalidToken(f"invalid bearer token: unknown kid '{kid}' ({e})") from None
        return _usable([found]).get(kid)

    def kids(self) -> frozenset[str]:
        try:
            return frozenset(_usable(self._client.get_jwk_set()))
        except jwt.PyJWTError as e:
            raise InvalidToken(f"invalid bearer token: cannot fetch the JWKS to check its kid: {e}") from None
