"""Bearer tokens: HS256 from our secret, RS256/ES256 from a JWKS chosen by kid; everything else is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, get_args

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from adapters.api_access.tokens import InvalidToken, JwtTokens
from application.principals import Role

SECRET = "t" * 40
ISSUER = "https://project.supabase.co/auth/v1"
AUDIENCE = "authenticated"
USER = "0b9d6f7e-1111-4222-8333-444455556666"
DROP: Any = object()  # a claim left out

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Keys:
    rsa: RSAPrivateKey
    ec: EllipticCurvePrivateKey
    stranger_rsa: RSAPrivateKey
    stranger_ec: EllipticCurvePrivateKey


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(
        rsa=rsa_key(),
        ec=ec.generate_private_key(ec.SECP256R1()),
        stranger_rsa=rsa_key(),
        stranger_ec=ec.generate_private_key(ec.SECP256R1()),
    )


@pytest.fixture
def tokens(keys: Keys, tmp_path: Path) -> JwtTokens:
    path = write_jwks(tmp_path / "jwks.json", {"rsa-1": keys.rsa, "ec-1": keys.ec})
    return JwtTokens(SECRET, issuer=ISSUER, audience=AUDIENCE, jwks=str(path))


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def public_jwk(key: PrivateKey, kid: str) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        jwk = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig"}


def write_jwks(path: Path, keys_by_kid: dict[str, PrivateKey]) -> Path:
    path.write_text(json.dumps({"keys": [public_jwk(key, kid) for kid, key in keys_by_kid.items()]}))
    return path


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": USER, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600, **changes}
    return {name: value for name, value in base.items() if value is not DROP}


def sign(key: Any, algorithm: str, payload: dict[str, Any], **header: Any) -> str:
    return jwt.encode(payload, key, algorithm=algorithm, headers=header or None)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], payload: dict[str, Any], mac_key: bytes | None = None) -> str:
    """A token built by hand: unsigned, or HS256-signed with any bytes as the secret."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(mac_key, signing_input.encode(), hashlib.sha256).digest() if mac_key else b""
    return f"{signing_input}.{b64(signature)}"


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def with_payload(token: str, payload: dict[str, Any] | None) -> str:
    """The token with another payload, or none (a detached payload), and the old signature."""
    header, _, signature = token.split(".")
    body = b64(json.dumps(payload).encode()) if payload is not None else ""
    return f"{header}.{body}.{signature}"


Case = Callable[[Keys], str]
NEGATIVE: list[Any] = [
    # The header: algorithms, and keys the token brings along.
    pytest.param(lambda k: forge({"alg": "none", "typ": "JWT"}, claims()), "algorithm 'none'", id="alg-none"),
    pytest.param(lambda k: forge({"alg": "None"}, claims()), "algorithm 'None'", id="alg-None-capitalized"),
    pytest.param(lambda k: forge({"typ": "JWT"}, claims(), SECRET.encode()), "algorithm None", id="alg-missing"),
    pytest.param(lambda k: sign(SECRET * 2, "HS512", claims()), "algorithm 'HS512'", id="alg-HS512"),
    pytest.param(lambda k: sign(k.rsa, "RS512", claims(), kid="rsa-1"), "algorithm 'RS512'", id="alg-RS512"),
    pytest.param(lambda k: sign(k.rsa, "PS256", claims(), kid="rsa-1"), "algorithm 'PS256'", id="alg-PS256"),
    pytest.param(
        lambda k: forge({"alg": "HS256", "kid": "rsa-1"}, claims(), public_pem(k.rsa)),
        "HS256 with the kid 'rsa-1' of a public key",
        id="confusion-hs256-keyed-with-the-rsa-public-key",
    ),
    pytest.param(
        lambda k: forge({"alg": "HS256"}, claims(), public_pem(k.rsa)),
        "Signature verification failed",
        id="confusion-hs256-keyed-with-the-rsa-public-key-no-kid",
    ),
    pytest.param(
        lambda k: sign(SECRET, "HS256", claims(), kid="ec-1"), "HS256 with the kid 'ec-1'", id="hs256-with-an-ec-kid"
    ),
    pytest.param(
        lambda k: sign("x" * 40, "HS256", claims()), "Signature verification failed", id="hs256-another-secret"
    ),
    pytest.param(lambda k: sign(k.rsa, "RS256", claims(), kid="rsa-9"), "unknown kid 'rsa-9'", id="unknown-kid"),
    pytest.param(lambda k: sign(k.rsa, "RS256", claims()), "must name its key with 'kid'", id="rs256-without-kid"),
    pytest.param(
        lambda k: forge({"alg": "HS256", "kid": 7}, claims(), SECRET.encode()),
        "Key ID header parameter must be a string",
        id="kid-not-a-string",
    ),
    pytest.param(
        lambda k: sign(k.stranger_rsa, "RS256", claims(), kid="rsa-1"),
        "Signature verification failed",
        id="rs256-signed-by-a-stranger-under-our-kid",
    ),
    pytest.param(
        lambda k: sign(k.stranger_ec, "ES256", claims(), kid="ec-1"),
        "Signature verification failed",
        id="es256-signed-by-a-stranger-under-our-kid",
    ),
    pytest.param(
        lambda k: sign(k.ec, "ES256", claims(), kid="rsa-1"),
        "kid 'rsa-1' is an RS256 key, not ES256",
        id="es256-naming-an-rsa-kid",
    ),
    pytest.param(
        lambda k: sign(k.rsa, "RS256", claims(), kid="ec-1"),
        "kid 'ec-1' is an ES256 key, not RS256",
        id="rs256-naming-an-ec-kid",
    ),
    pytest.param(
        lambda k: sign(k.stranger_rsa, "RS256", claims(), kid="rsa-1", jku="https://evil.example/jwks.json"),
        "header jku refused",
        id="header-jku",
    ),
    pytest.param(
        lambda k: sign(k.stranger_rsa, "RS256", claims(), kid="rsa-1", jwk=public_jwk(k.stranger_rsa, "rsa-1")),
        "header jwk refused",
        id="header-jwk",
    ),
    pytest.param(
        lambda k: sign(k.stranger_rsa, "RS256", claims(), kid="rsa-1", x5u="https://evil.example/cert.pem"),
        "header x5u refused",
        id="header-x5u",
    ),
    pytest.param(
        lambda k: sign(k.stranger_rsa, "RS256", claims(), kid="rsa-1", x5c=["MIIBIjANBgkq"]),
        "header x5c refused",
        id="header-x5c",
    ),
    pytest.param(
        lambda k: sign(SECRET, "HS256", claims(), crit=["exp"]), "Unsupported critical extension", id="header-crit"
    ),
    pytest.param(
        lambda k: with_payload(forge({"alg": "HS256", "b64": False, "crit": ["b64"]}, claims(), SECRET.encode()), None),
        "header crit, b64 refused",
        id="header-b64-unencoded-payload",
    ),
    # The signature.
    pytest.param(
        lambda k: with_payload(sign(k.rsa, "RS256", claims(), kid="rsa-1"), claims(role="admin")),
        "Signature verification failed",
        id="payload-changed-after-signing",
    ),
    pytest.param(
        lambda k: sign(k.rsa, "RS256", claims(), kid="rsa-1").rsplit(".", 1)[0] + ".",
        "Signature verification failed",
        id="signature-stripped",
    ),
    pytest.param(lambda k: "not-a-jwt", "Not enough segments", id="not-a-jwt"),
    pytest.param(lambda k: "", "Not enough segments", id="empty"),
    pytest.param(
        lambda k: sign(SECRET, "HS256", claims(padding="x" * 9_000)), "longer than 8192 characters", id="oversized"
    ),
    # The claims.
    pytest.param(
        lambda k: sign(SECRET, "HS256", claims(exp=int(time.time()) - 120)), "Signature has expired", id="expired"
    ),
    pytest.param(lambda k: sign(SECRET, "HS256", claims(exp="tomorrow")), "Expiration Time", id="exp-not-a-number"),
    pytest.param(
        lambda k: sign(SECRET, "HS256", claims(nbf=int(time.time()) + 120)), "not yet valid", id="nbf-in-the-future"
    ),
    pytest.param(
        lambda k: sign(SECRET, "HS256", claims(iat=int(time.time()) + 120)), "not yet valid", id="iat-in-the-future"
    ),
    pytest.param(lambda k: sign(SECRET, "HS256", claims(exp=DROP)), 'missing the "exp" claim', id="missing-exp"),
    pytest.param(lambda k: sign(SECRET, "HS256", claims(iat=DROP)), 'missing the "iat" claim', id="missing-iat"),
    pytest.param(lambda k: sign(SECRET, "HS256", claims(sub=DROP)), 'missing the "sub" claim', id="missing-sub"),
    pytest.param(lambda k: sign(SECRET, "HS256", claims(sub="")), "'sub' claim is empty", id="empty-sub"),
    pytest.param(lambda k: sign(SECRET, "HS256", claims(sub="  ")), "'sub' claim is empty", id="blank-sub"),
    pytest.param(lambda k: sign(SECRET, "HS256", claims(sub=42)), "Subject must be a string", id="sub-not-a-string"),
    pytest.param(lambda k: sign(SECRET, "HS256", claims(aud=DROP)), 'missing the "aud" claim', id="missing-aud"),
    pytest.param(lambda k: sign(SECRET, "HS256", claims(aud="other-app")), "Audience doesn't match", id="wrong-aud"),
    pytest.param(
        lambda k: sign(SECRET, "HS256", claims(aud=["a", "b"])), "Audience doesn't match", id="aud-list-without-ours"
    ),
    pytest.param(lambda k: sign(SECRET, "HS256", claims(iss=DROP)), 'missing the "iss" claim', id="missing-iss"),
    pytest.param(lambda k: sign(SECRET, "HS256", claims(iss="https://evil.example")), "Invalid issuer", id="wrong-iss"),
    pytest.param(
        lambda k: sign(SECRET, "HS256", claims(role="superuser")), "unknown role 'superuser'", id="unknown-role"
    ),
    pytest.param(
        lambda k: sign(SECRET, "HS256", claims(role="authenticated")),
        "unknown role 'authenticated' in 'role'",
        id="supabase-postgres-role-in-the-default-claim",
    ),
    pytest.param(
        lambda k: sign(SECRET, "HS256", claims(role=["admin"])), "unknown role ['admin']", id="role-not-a-string"
    ),
]


@pytest.mark.parametrize(("make", "message"), NEGATIVE)
def test_every_token_of_the_negative_corpus_is_refused_saying_why(
    tokens: JwtTokens, keys: Keys, make: Case, message: str
) -> None:
    with pytest.raises(InvalidToken, match="^invalid bearer token: .*" + re.escape(message)):
        tokens.verify(make(keys))


def test_the_negative_corpus_is_large_enough() -> None:
    assert len(NEGATIVE) >= 20


@pytest.mark.parametrize("role", get_args(Role))
def test_a_minted_token_verifies_as_its_subject_and_role(tokens: JwtTokens, role: Role) -> None:
    principal = tokens.verify(tokens.mint(USER, role))
    assert (principal.subject, principal.role) == (USER, role)


def test_a_token_without_a_role_claim_is_a_user(tokens: JwtTokens) -> None:
    assert tokens.verify(sign(SECRET, "HS256", claims())).role == "user"


def test_rs256_and_es256_tokens_are_checked_with_the_jwks_key_their_kid_names(tokens: JwtTokens, keys: Keys) -> None:
    assert tokens.verify(sign(keys.rsa, "RS256", claims(role="analyst"), kid="rsa-1")).role == "analyst"
    assert tokens.verify(sign(keys.ec, "ES256", claims(role="auditor"), kid="ec-1")).role == "auditor"


def test_an_hs256_token_whose_kid_is_not_in_the_jwks_is_accepted(tokens: JwtTokens) -> None:
    # Supabase's legacy-secret tokens carry a kid of their own.
    assert tokens.verify(sign(SECRET, "HS256", claims(), kid="legacy-secret")).subject == USER


def test_a_token_expired_within_the_leeway_is_still_accepted(tokens: JwtTokens) -> None:
    assert tokens.verify(sign(SECRET, "HS256", claims(exp=int(time.time()) - 10))).subject == USER


def test_asymmetric_tokens_need_a_jwks(keys: Keys) -> None:
    tokens = JwtTokens(SECRET, issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(InvalidToken, match="RS256 needs a JWKS"):
        tokens.verify(sign(keys.rsa, "RS256", claims(), kid="rsa-1"))


def test_keys_rotate_by_kid_when_the_jwks_file_changes(tmp_path: Path) -> None:
    old, current, new = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    path = write_jwks(tmp_path / "jwks.json", {"old": old, "current": current})
    tokens = JwtTokens(SECRET, issuer=ISSUER, audience=AUDIENCE, jwks=str(path))
    assert tokens.verify(sign(old, "ES256", claims(), kid="old")).subject == USER
    assert tokens.verify(sign(current, "ES256", claims(), kid="current")).subject == USER

    write_jwks(path, {"current": current, "new": new})

    assert tokens.verify(sign(new, "ES256", claims(), kid="new")).subject == USER
    assert tokens.verify(sign(current, "ES256", claims(), kid="current")).subject == USER
    with pytest.raises(InvalidToken, match="unknown kid 'old'"):
        tokens.verify(sign(old, "ES256", claims(), kid="old"))


def test_a_jwks_file_left_half_written_keeps_the_keys_read_before(tmp_path: Path, keys: Keys) -> None:
    path = write_jwks(tmp_path / "jwks.json", {"ec-1": keys.ec})
    tokens = JwtTokens(SECRET, issuer=ISSUER, audience=AUDIENCE, jwks=str(path))
    path.write_text('{"keys": [{"kty": "EC", ')
    assert tokens.verify(sign(keys.ec, "ES256", claims(), kid="ec-1")).subject == USER


@pytest.mark.parametrize(
    ("jwk", "reason"),
    [
        ({"kty": "oct", "k": b64(SECRET.encode()), "kid": "shared"}, "symmetric"),
        ({**public_jwk(rsa_key(1024), "weak"), "alg": "RS256"}, "RSA under 2048 bits"),
        (public_jwk(ec.generate_private_key(ec.SECP384R1()), "p384"), "not P-256"),
        ({**public_jwk(rsa_key(), "enc"), "use": "enc"}, "an encryption key"),
        ({**public_jwk(rsa_key(), "ps"), "alg": "PS256"}, "an algorithm we do not accept"),
        ({k: v for k, v in public_jwk(rsa_key(), "x").items() if k != "kid"}, "no kid"),
    ],
)
def test_a_jwks_file_without_a_usable_signing_key_fails_at_start(
    tmp_path: Path, jwk: dict[str, Any], reason: str
) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    with pytest.raises(ValueError, match=r"no RSA .* or P-256 EC public signing key"):
        JwtTokens(SECRET, issuer=ISSUER, audience=AUDIENCE, jwks=str(path))


def test_a_missing_jwks_file_fails_at_start_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"JWKS file .*nowhere\.json"):
        JwtTokens(SECRET, issuer=ISSUER, audience=AUDIENCE, jwks=str(tmp_path / "nowhere.json"))


@pytest.mark.parametrize("claim", ["", "app_metadata.", ".role", "a..b"])
def test_a_malformed_role_claim_fails_at_start(claim: str) -> None:
    with pytest.raises(ValueError, match="role claim"):
        JwtTokens(SECRET, issuer=ISSUER, audience=AUDIENCE, role_claim=claim)


class TestRoleClaimPath:
    """Supabase keeps app roles in ``app_metadata``; its top-level ``role`` is the Postgres role."""

    tokens = JwtTokens(SECRET, issuer=ISSUER, audience=AUDIENCE, role_claim="app_metadata.role")

    def test_the_role_is_read_from_the_dotted_path(self) -> None:
        token = sign(SECRET, "HS256", claims(role="authenticated", app_metadata={"role": "analyst"}))
        assert self.tokens.verify(token).role == "analyst"

    @pytest.mark.parametrize("extra", [{}, {"app_metadata": {"provider": "email"}}])
    def test_a_token_without_the_path_is_a_user(self, extra: dict[str, Any]) -> None:
        assert self.tokens.verify(sign(SECRET, "HS256", claims(**extra))).role == "user"

    def test_a_path_through_something_other_than_an_object_is_refused(self) -> None:
        with pytest.raises(InvalidToken, match=re.escape("'app_metadata.role' does not lead to a role")):
            self.tokens.verify(sign(SECRET, "HS256", claims(app_metadata="admin")))

    def test_an_unknown_role_on_the_path_is_refused(self) -> None:
        with pytest.raises(InvalidToken, match=re.escape("unknown role 'owner' in 'app_metadata.role'")):
            self.tokens.verify(sign(SECRET, "HS256", claims(app_metadata={"role": "owner"})))

    def test_minted_tokens_put_the_role_on_the_path(self) -> None:
        token = self.tokens.mint(USER, "auditor")
        assert jwt.decode(token, options={"verify_signature": False})["app_metadata"] == {"role": "auditor"}
        assert self.tokens.verify(token).role == "auditor"

    def test_a_claim_named_with_dots_is_read_whole_first(self) -> None:
        tokens = JwtTokens(SECRET, issuer=ISSUER, audience=AUDIENCE, role_claim="https://addvalue.app/role")
        assert tokens.verify(sign(SECRET, "HS256", claims(**{"https://addvalue.app/role": "admin"}))).role == "admin"


@dataclass
class JwksServer:
    """A JWKS endpoint on 127.0.0.1 whose keys a test may change; ``hits`` counts the fetches."""

    keys: dict[str, PrivateKey]
    url: str = ""
    hits: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def jwks_server(keys: Keys) -> Iterator[JwksServer]:
    served = JwksServer(keys={"rsa-1": keys.rsa})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with served.lock:
                served.hits += 1
                body = json.dumps({"keys": [public_jwk(key, kid) for kid, key in served.keys.items()]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    served.url = f"http://127.0.0.1:{server.server_address[1]}/auth/v1/.well-known/jwks.json"
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_jwks_url_is_fetched_once_and_cached(jwks_server: JwksServer, keys: Keys) -> None:
    tokens = JwtTokens(SECRET, issuer=ISSUER, audience=AUDIENCE, jwks=jwks_server.url)
    for _ in range(3):
        assert tokens.verify(sign(keys.rsa, "RS256", claims(), kid="rsa-1")).subject == USER
    assert jwks_server.hits == 1


def test_a_jwks_url_is_fetched_again_for_a_new_kid_and_drops_removed_ones(jwks_server: JwksServer, keys: Keys) -> None:
    tokens = JwtTokens(SECRET, issuer=ISSUER, audience=AUDIENCE, jwks=jwks_server.url, jwks_cooldown=timedelta(0))
    assert tokens.verify(sign(keys.rsa, "RS256", claims(), kid="rsa-1")).subject == USER

    jwks_server.keys = {"ec-2": keys.ec}

    assert tokens.verify(sign(keys.ec, "ES256", claims(), kid="ec-2")).subject == USER
    with pytest.raises(InvalidToken, match="unknown kid 'rsa-1'"):
        tokens.verify(sign(keys.rsa, "RS256", claims(), kid="rsa-1"))


def test_unknown_kids_do_not_fetch_the_jwks_again_within_the_cooldown(jwks_server: JwksServer, keys: Keys) -> None:
    tokens = JwtTokens(SECRET, issuer=ISSUER, audience=AUDIENCE, jwks=jwks_server.url)
    tokens.verify(sign(keys.rsa, "RS256", claims(), kid="rsa-1"))
    for attempt in range(5):
        with pytest.raises(InvalidToken, match="unknown kid"):
            tokens.verify(sign(keys.stranger_rsa, "RS256", claims(), kid=f"made-up-{attempt}"))
    assert jwks_server.hits == 1


def test_an_unreachable_jwks_url_refuses_asymmetric_tokens_saying_so(keys: Keys) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    tokens = JwtTokens(SECRET, issuer=ISSUER, audience=AUDIENCE, jwks=f"http://127.0.0.1:{port}/jwks.json")
    with pytest.raises(InvalidToken, match="cannot fetch the JWKS"):
        tokens.verify(sign(keys.rsa, "RS256", claims(), kid="rsa-1"))
    assert tokens.verify(sign(SECRET, "HS256", claims())).subject == USER  # no kid: no need for the JWKS


def test_a_jwks_url_must_be_http_or_https() -> None:
    with pytest.raises(ValueError, match=re.escape("JWKS URL file:///etc/jwks.json")):
        JwtTokens(SECRET, issuer=ISSUER, audience=AUDIENCE, jwks="file:///etc/jwks.json")


def test_a_token_valid_for_longer_than_the_maximum_lifetime_is_refused() -> None:
    tokens = JwtTokens(SECRET, issuer=ISSUER, audience=AUDIENCE)  # the default maximum: 30 days
    assert tokens.verify(tokens.mint("ana", "admin", valid_for=timedelta(days=30))).subject == "ana"
    with pytest.raises(InvalidToken, match=r"valid for 31\.0 days .* accepts at most 30 days"):
        tokens.verify(tokens.mint("ana", "admin", valid_for=timedelta(days=31)))
    now = int(time.time())
    for exp in (253_402_300_799, 10**20):  # the last second of the year 9999, and far beyond what a date holds
        claims = {"sub": "ana", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": exp, "role": "admin"}
        with pytest.raises(InvalidToken, match="accepts at most 30 days"):
            tokens.verify(jwt.encode(claims, SECRET, algorithm="HS256"))
    hourly = JwtTokens(SECRET, issuer=ISSUER, audience=AUDIENCE, max_lifetime=timedelta(hours=1))
    assert hourly.verify(hourly.mint("ana", "user", valid_for=timedelta(hours=1))).role == "user"
    with pytest.raises(InvalidToken, match=r"accepts at most 0\.0416667 days"):
        hourly.verify(hourly.mint("ana", "user", valid_for=timedelta(hours=2)))
