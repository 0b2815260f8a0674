"""Rejected events cost their sender, over the served HTTP routes (issue 13, item 6).

A rejected event is still work and still kept (quarantine), so it is charged
to the sender's token bucket like an accepted one, and a sender whose events
keep failing meets a quarantine cap of its own (429) before filling the store.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import closing

import httpx
import msgspec
import pytest

from application.throttling import RateLimit
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.settings import Settings
from tests.e2e.in_thread import served
from tests.fakes import consent, event


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    strict = msgspec.structs.replace(
        settings,
        rate_limit_user=RateLimit(rate=0.01, burst=3),
        quarantine_limit_sender=RateLimit(rate=0.01, burst=5),
    )
    with closing(bootstrap(strict)) as built:
        yield built


@pytest.fixture
def http(container: Container) -> Iterator[httpx.Client]:
    with served(container) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield client


def batch(*events: bytes) -> bytes:
    return b'{"batch":[' + b",".join(events) + b"]}"


def broken(user: uuid.UUID) -> bytes:
    return event("wave_joined", user, {"wave_id": 7})


def token(container: Container, subject: str, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {container.tokens.mint(subject, role)}"}  # type: ignore[arg-type]


def test_rejected_events_count_against_the_senders_rate_limit(http: httpx.Client, container: Container) -> None:
    me, someone = uuid.uuid4(), uuid.uuid4()
    mine = token(container, str(me), "user")
    rejected = http.post("/v1/events", content=batch(broken(me), broken(someone), broken(someone)), headers=mine)
    assert rejected.status_code == 200
    assert len(rejected.json()["rejected"]) == 3

    valid = http.post("/v1/events", content=batch(consent(me, analytics=True)), headers=mine)

    assert valid.status_code == 429, valid.text
    assert int(valid.headers["retry-after"]) > 0


def test_a_sender_over_its_quarantine_cap_gets_429_and_nothing_more_is_kept(
    http: httpx.Client, container: Container
) -> None:
    backend = token(container, "backend", "service")
    first = http.post("/v1/events", content=batch(*(broken(uuid.uuid4()) for _ in range(5))), headers=backend)
    assert first.status_code == 200
    assert len(first.json()["rejected"]) == 5

    over = http.post("/v1/events", content=batch(broken(uuid.uuid4())), headers=backend)

    assert over.status_code == 429, over.text
    assert "quarantine" in over.json()["detail"]
    assert int(over.headers["retry-after"]) > 0
    assert len(list(container.quarantine.entries())) == 5
    other = http.post("/v1/events", content=batch(broken(uuid.uuid4())), headers=token(container, "other", "service"))
    assert other.status_code == 200  # the cap is per sender
