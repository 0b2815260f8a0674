"""Who changed a person's consent, over the served HTTP routes, on SQLite and PostgreSQL (issue 13, item 1).

A Segment/RudderStack write key ships inside the app, so anyone holds it: it
may withdraw consent for anyone (that only reduces collection) but never grant
it. Every change names its real sender.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import msgspec
import pytest

from entrypoints.bootstrap import Container, bootstrap
from entrypoints.settings import Settings
from tests.e2e.in_thread import served
from tests.fakes import CONSENT_ALL_OFF, consent
from tests.segment_messages import track

WRITE_KEY = "ios-app-key-" + "k" * 20


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    with closing(bootstrap(msgspec.structs.replace(settings, write_keys={WRITE_KEY: "ios-app"}))) as built:
        yield built


@pytest.fixture
def http(container: Container) -> Iterator[httpx.Client]:
    with served(container) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield client


def bearer(container: Container, subject: str, role: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {container.tokens.mint(subject, role)}"}


def write_key() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}


def send_consent(http: httpx.Client, headers: dict[str, str], person: uuid.UUID, *, analytics: bool) -> None:
    """A consent update through ``POST /v1/events``, which must be accepted."""
    answer = http.post(
        "/v1/events", content=b'{"batch": [' + consent(person, analytics=analytics) + b"]}", headers=headers
    )
    assert answer.json()["accepted"] == 1, answer.text


def segment_consent(person: uuid.UUID, *, analytics: bool) -> bytes:
    message = track("user_consent_update", {**CONSENT_ALL_OFF, "analytics": analytics}, user_id=person)
    return msgspec.json.encode({"batch": [message]})


def history(http: httpx.Client, container: Container, person: uuid.UUID) -> list[tuple[str, str, bool]]:
    answer = http.get(f"/api/users/{person}/consent/history", headers=bearer(container, "admin-1", "admin"))
    assert answer.status_code == 200, answer.text
    return [(c["source"], c["changed_by"], c["choice"]["analytics"]) for c in answer.json()["data"]["changes"]]


def test_a_write_key_cannot_grant_another_persons_consent_and_the_attempt_is_quarantined(
    http: httpx.Client, container: Container
) -> None:
    person = uuid.uuid4()
    send_consent(http, bearer(container, str(person), "user"), person, analytics=False)

    forged = http.post("/v1/batch", content=segment_consent(person, analytics=True), headers=write_key())

    assert forged.status_code == 200, forged.text
    assert forged.json()["accepted"] == 0
    (rejection,) = forged.json()["rejected"]
    assert "write key" in rejection["errors"][0]["message"]
    assert container.consent.current(person).choice.analytics is False
    assert history(http, container, person) == [("app_event", f"user:{person}", False)]
    assert [e.status for e in container.quarantine.entries()] == ["quarantined"]


def test_consent_changes_name_their_real_sender_and_a_write_key_may_withdraw(
    http: httpx.Client, container: Container
) -> None:
    person = uuid.uuid4()
    send_consent(http, bearer(container, "backend", "service"), person, analytics=True)
    withdrawn = http.post("/v1/batch", content=segment_consent(person, analytics=False), headers=write_key())
    assert withdrawn.json()["accepted"] == 1, withdrawn.text
    regranted = http.put(
        f"/api/users/{person}/consent",
        headers=bearer(container, str(person), "user"),
        json={**CONSENT_ALL_OFF, "analytics": True},
    )
    assert regranted.status_code == 200, regranted.text

    assert history(http, container, person) == [
        ("app_event", "service:backend", True),
        ("app_event", "write_key:ios-app", False),
        ("api", f"user:{person}", True),
    ]
    exported = http.get(f"/api/users/{person}/export", headers=bearer(container, str(person), "user")).json()["data"]
    assert [c["changed_by"] for c in exported["consent"]["history"]] == [
        "service:backend",
        "write_key:ios-app",
        f"user:{person}",
    ]
