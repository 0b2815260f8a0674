"""gzip bodies, per-person and per-network rate limits, and the client address, over HTTP."""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from application.throttling import RateLimit
from domain.network import parse_trusted_proxies
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.http.app import create_app
from entrypoints.http.guard import IngestGuard
from entrypoints.settings import Settings
from tests.fakes import consent, feedback

Client = TestClient  # type: ignore[type-arg]


def batch(*events: bytes) -> bytes:
    return b'{"batch":[' + b",".join(events) + b"]}"


@pytest.fixture
def limited(settings: Settings) -> Iterator[tuple[Client, Container]]:
    # One event back every 100 s: however slow the runner, the bucket does not refill between two requests.
    strict = msgspec.structs.replace(settings, rate_limit_user=RateLimit(rate=0.01, burst=3))
    container = bootstrap(strict)
    with TestClient(app=create_app(container, run_jobs=False)) as client:
        yield client, container
    container.close()


def headers(container: Container, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {container.tokens.mint('svc', 'service')}", **extra}


def test_a_gzipped_body_is_accepted_whatever_the_content_type(limited: tuple[Client, Container]) -> None:
    client, container = limited
    body = gzip.compress(batch(consent(uuid.uuid4(), analytics=True)))
    response = client.post("/v1/events", content=body, headers=headers(container, **{"Content-Type": "text/plain"}))
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1


def test_a_gzip_bomb_is_413_and_broken_gzip_is_400(limited: tuple[Client, Container]) -> None:
    client, container = limited
    bomb = gzip.compress(b'{"batch":["' + b"a" * (5 * 1024 * 1024) + b'"]}')
    assert len(bomb) < 20_000
    response = client.post("/v1/events", content=bomb, headers=headers(container, **{"Content-Encoding": "gzip"}))
    assert response.status_code == 413
    assert "gunzipped" in response.json()["detail"]
    broken = client.post("/v1/events", content=bomb[:500], headers=headers(container, **{"Content-Encoding": "gzip"}))
    assert broken.status_code == 400
    other = client.post("/v1/events", content=b"{}", headers=headers(container, **{"Content-Encoding": "br"}))
    assert other.status_code == 400


def test_one_person_over_their_rate_gets_429_with_retry_after(limited: tuple[Client, Container]) -> None:
    client, container = limited
    user, other = uuid.uuid4(), uuid.uuid4()
    first = client.post(
        "/v1/events", content=batch(consent(user, analytics=True), feedback(user, "a")), headers=headers(container)
    )
    assert first.status_code == 200
    second = client.post(
        "/v1/events", content=batch(feedback(user, "b"), feedback(user, "c")), headers=headers(container)
    )
    assert second.status_code == 429
    assert 90 <= int(second.headers["retry-after"]) <= 100  # one event short, at 0.01 events/s
    assert "retry after" in second.json()["detail"]
    # Someone else is not held back by that person.
    third = client.post("/v1/events", content=batch(consent(other, analytics=True)), headers=headers(container))
    assert third.status_code == 200


def request_from(peer: str, forwarded_for: str | None = None) -> Any:
    found = {"x-forwarded-for": forwarded_for} if forwarded_for else {}
    return SimpleNamespace(client=SimpleNamespace(host=peer), headers=found)


def test_the_client_address_is_the_peer_unless_the_peer_is_a_trusted_proxy() -> None:
    guard = IngestGuard(
        trusted_proxies=parse_trusted_proxies("10.0.0.0/8"),
        per_user=RateLimit(rate=0, burst=0),
        per_network=RateLimit(rate=0, burst=0),
    )
    assert guard.client_ip(request_from("203.0.113.9", "198.51.100.1")) == "203.0.113.9"
    assert guard.client_ip(request_from("10.1.2.3", "198.51.100.1, 10.9.9.9")) == "198.51.100.1"
