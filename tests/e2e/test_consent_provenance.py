"""Who changed a person's consent, over the served HTTP routes, on SQLite and PostgreSQL (issue 13, item 1).

A Segment/RudderStack write key ships inside the app, so anyone holds it: it
may withdraw consent for anyone (that only reduces collection) but never grant
it. Every change names its real sender.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from entrypoints.bootstrap import bootstrap
from entrypoints.settings import load_settings
from tests.e2e.served import Served, start_served
from tests.fakes import CONSENT_ALL_OFF, consent
from tests.segment_messages import track

WRITE_KEY = "ios-app-key-" + "k" * 20


@pytest.fixture
def service(backend: str, tmp_path: Path) -> Iterator[Served]:
    """``addvalue serve`` with the app's write key, on SQLite and PostgreSQL."""
    with start_served(backend, tmp_path, env={"ADDVALUE_WRITE_KEYS": f"ios-app={WRITE_KEY}"}) as served:
        yield served


@pytest.fixture
def http(service: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.base_url, timeout=10) as client:
        yield client


def write_key() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}


def quarantined(service: Served) -> list[str]:
    """The statuses of the quarantine's entries, read from the service's database."""
    with bootstrap(load_settings(service.env)) as reader:
        return [e.status for e in reader.quarantine.entries()]


def analytics_consent(http: httpx.Client, service: Served, person: uuid.UUID) -> Any:
    answer = http.get(f"/api/users/{person}/consent", headers=service.bearer("admin-1", "admin"))
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]["choice"]["analytics"]


def send_consent(http: httpx.Client, headers: dict[str, str], person: uuid.UUID, *, analytics: bool) -> None:
    """A consent update through ``POST /v1/events``, which must be accepted."""
    answer = http.post(
        "/v1/events", content=b'{"batch": [' + consent(person, analytics=analytics) + b"]}", headers=headers
    )
    assert answer.json()["accepted"] == 1, answer.text


def segment_consent(person: uuid.UUID, *, analytics: bool) -> bytes:
    message = track("user_consent_update", {**CONSENT_ALL_OFF, "analytics": analytics}, user_id=person)
    return msgspec.json.encode({"batch": [message]})


def history(http: httpx.Client, service: Served, person: uuid.UUID) -> list[tuple[str, str, bool]]:
    answer = http.get(f"/api/users/{person}/consent/history", headers=service.bearer("admin-1", "admin"))
    assert answer.status_code == 200, answer.text
    return [(c["source"], c["changed_by"], c["choice"]["analytics"]) for c in answer.json()["data"]["changes"]]


def test_a_write_key_cannot_grant_another_persons_consent_and_the_attempt_is_quarantined(
    http: httpx.Client, service: Served
) -> None:
    person = uuid.uuid4()
    send_consent(http, service.bearer(str(person), "user"), person, analytics=False)

    forged = http.post("/v1/batch", content=segment_consent(person, analytics=True), headers=write_key())

    assert forged.status_code == 200, forged.text
    assert forged.json()["accepted"] == 0
    (rejection,) = forged.json()["rejected"]
    assert "write key" in rejection["errors"][0]["message"]
    assert analytics_consent(http, service, person) is False
    assert history(http, service, person) == [("app_event", f"user:{person}", False)]
    assert quarantined(service) == ["quarantined"]


def test_consent_changes_name_their_real_sender_and_a_write_key_may_withdraw(
    http: httpx.Client, service: Served
) -> None:
    person = uuid.uuid4()
    send_consent(http, service.bearer("backend", "service"), person, analytics=True)
    withdrawn = http.post("/v1/batch", content=segment_consent(person, analytics=False), headers=write_key())
    assert withdrawn.json()["accepted"] == 1, withdrawn.text
    regranted = http.put(
        f"/api/users/{person}/consent",
        headers=service.bearer(str(person), "user"),
        json={**CONSENT_ALL_OFF, "analytics": True},
    )
    assert regranted.status_code == 200, regranted.text

    assert history(http, service, person) == [
        ("app_event", "service:backend", True),
        ("app_event", "write_key:ios-app", False),
        ("api", f"user:{person}", True),
    ]
    exported = http.get(f"/api/users/{person}/export", headers=service.bearer(str(person), "user")).json()["data"]
    assert [c["changed_by"] for c in exported["consent"]["history"]] == [
        "service:backend",
        "write_key:ios-app",
        f"user:{person}",
    ]
