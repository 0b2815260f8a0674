"""Helpers for the Analytics API tests: an app on a fixed clock, tokens, a person with computed indices."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

import httpx
from litestar import Litestar
from litestar.testing import TestClient

from application.principals import Principal, Role
from entrypoints.bootstrap import Container, Overrides, bootstrap
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.fakes import FixedClock, consent, event

Client = TestClient[Litestar]

# The service's clock: 2 March 2026, so that 20 February is closed (not final) and within the catalog's 30 days.
NOW: Final = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
CLOSED_DAY: Final = date(2026, 2, 20)
SERVICE: Final = Principal(subject="tests", role="service")
ROLES: Final[tuple[Role, ...]] = ("user", "analyst", "admin", "auditor", "service")


@dataclass(frozen=True)
class Api:
    """The real app over real storage, on a fixed clock; ``get`` calls it as someone."""

    container: Container
    client: Client

    def token(self, subject: str, role: Role) -> str:
        return self.container.tokens.mint(subject, role)

    def get(self, path: str, role: Role | None, subject: str = "someone", **params: Any) -> httpx.Response:
        headers = {} if role is None else {"Authorization": f"Bearer {self.token(subject, role)}"}
        return self.client.get(path, params=params, headers=headers)


@contextmanager
def running_api(settings: Settings) -> Iterator[Api]:
    container = bootstrap(settings, overrides=Overrides(clock=FixedClock(NOW)))
    try:
        with TestClient(app=create_app(container, run_jobs=False)) as client:
            yield Api(container, client)
    finally:
        container.close()


def send(container: Container, *raw: bytes) -> None:
    report = container.ingestion.ingest(list(raw), sent_at=None, principal=SERVICE)
    assert report.accepted == len(raw), report


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, 10, tzinfo=UTC)


def person_with_indices(container: Container, day: date = CLOSED_DAY) -> uuid.UUID:
    """A person active on ``day``, with the day closed and its indices computed, as the nightly jobs would."""
    person = uuid.uuid4()
    send(
        container,
        consent(person, analytics=True, at=at(day, 9)),
        event("activation_mood_logged", person, {"activation_id": "a", "phase": "start", "mood": 5}, at=at(day)),
        event("activation_mood_logged", person, {"activation_id": "a", "phase": "end", "mood": 7}, at=at(day)),
        event("microact_shared", person, {"microact_id": "m", "audience": "community"}, at=at(day)),
    )
    for job in ("close-day", "daily-indices"):
        assert container.jobs.run(job, day).status == "succeeded"
    return person


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """The envelope of an error answer: status "error", a stable code, a message, metadata."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "error", body
    assert set(body) == {"status", "error", "metadata"}, body
    assert body["error"]["code"], body
    assert body["error"]["message"], body
    assert "calculated_at" in body["metadata"]
    error: dict[str, Any] = body["error"]
    return error
