"""HTTP through the real Litestar app, on the real storage (SQLite and PostgreSQL)."""

from __future__ import annotations

import gzip
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from adapters.api_access.tokens import JwtTokens
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.fakes import consent, event, feedback
from tests.strategies import JSON_VALUES, catalog_events

Client = TestClient  # type: ignore[type-arg]


@pytest.fixture
def client(container: Container) -> Iterator[Client]:
    with TestClient(app=create_app(container, run_jobs=False)) as test_client:
        yield test_client


def bearer(container: Container, subject: str, role: str = "user") -> dict[str, str]:
    return {"Authorization": f"Bearer {container.tokens.mint(subject, role)}"}  # type: ignore[arg-type]


def batch(*events: bytes, sent_at: datetime | None = None) -> bytes:
    body = b'{"batch":[' + b",".join(events) + b"]"
    if sent_at is not None:
        body += b',"sent_at":' + msgspec.json.encode(sent_at)
    return body + b"}"


def test_a_user_sends_a_batch_and_gets_per_event_outcomes(client: Client, container: Container) -> None:
    user = uuid.uuid4()
    bad = event("activation_round_completed", user, {"activation_id": "a", "round": 9, "duration_seconds": 1})
    body = batch(consent(user, analytics=True), feedback(user, "calm"), bad)
    response = client.post("/v1/events", content=body, headers=bearer(container, str(user)))
    assert response.status_code == 200, response.text
    outcome = response.json()
    assert outcome["accepted"] == 2
    assert outcome["duplicates"] == 0
    assert outcome["not_collected"] == 0
    assert outcome["rejected"] == [
        {
            "index": 2,
            "event_id": msgspec.json.decode(bad)["event_id"],
            "errors": [{"path": "properties.round", "message": "must be an integer between 1 and 8"}],
        }
    ]
    again = client.post(
        "/v1/events", content=batch(consent(user, analytics=True)), headers=bearer(container, str(user))
    )
    assert again.json()["accepted"] == 1


def test_a_user_token_cannot_send_someone_elses_events(client: Client, container: Container) -> None:
    me, someone = uuid.uuid4(), uuid.uuid4()
    response = client.post(
        "/v1/events", content=batch(consent(someone, analytics=True)), headers=bearer(container, str(me))
    )
    assert response.status_code == 200
    assert response.json()["rejected"][0]["errors"][0]["path"] == "user_id"
    assert container.keys.subject_for(someone, create=False) is None


def test_a_service_token_may_send_for_anyone(client: Client, container: Container) -> None:
    users = [uuid.uuid4() for _ in range(3)]
    body = batch(*(consent(u, analytics=True) for u in users))
    response = client.post("/v1/events", content=body, headers=bearer(container, "backend", "service"))
    assert response.json()["accepted"] == 3


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "Bearer"),
        ({"Authorization": "Bearer not-a-jwt"}, "invalid bearer token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "Bearer"),
    ],
)
def test_missing_or_invalid_tokens_are_401(client: Client, headers: dict[str, str], reason: str) -> None:
    response = client.post("/v1/events", content=batch(), headers=headers)
    assert response.status_code == 401
    assert reason in response.json()["detail"]
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_token_signed_with_another_secret_or_expired_is_401(client: Client, container: Container) -> None:
    forged = JwtTokens("another-secret-" + "y" * 40, issuer="addvalue", audience="addvalue-analytics").mint(
        "u", "service"
    )
    expired = container.tokens.mint("u", "service", valid_for=timedelta(minutes=-5))
    for token in (forged, expired):
        response = client.post("/v1/events", content=batch(), headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401


@pytest.mark.parametrize("body", [b"{", b"not json", b"[]", b'{"batch": 3}', b'{"batch": [], "extra": 1}'])
def test_malformed_bodies_are_400_with_a_reason(client: Client, container: Container, body: bytes) -> None:
    response = client.post("/v1/events", content=body, headers=bearer(container, "svc", "service"))
    assert response.status_code == 400
    assert response.json()["detail"]


def test_an_empty_batch_is_400(client: Client, container: Container) -> None:
    response = client.post("/v1/events", content=batch(), headers=bearer(container, "svc", "service"))
    assert response.status_code == 400
    assert "1 to 1000" in response.json()["detail"]


def test_more_than_1000_events_is_413(client: Client, container: Container) -> None:
    user = uuid.uuid4()
    body = b'{"batch":[' + b",".join([b"{}"] * 1001) + b"]}"
    response = client.post("/v1/events", content=body, headers=bearer(container, str(user)))
    assert response.status_code == 413
    assert "1001 events" in response.json()["detail"]


def test_a_body_over_1_mib_is_413(client: Client, container: Container) -> None:
    body = b'{"batch":["' + b"x" * (1024 * 1024) + b'"]}'
    response = client.post("/v1/events", content=body, headers=bearer(container, "svc", "service"))
    assert response.status_code == 413
    assert "1 MiB" in response.json()["detail"]


def test_one_event_over_32_kib_is_rejected_alone(client: Client, container: Container) -> None:
    user = uuid.uuid4()
    big = event("wave_joined", user, {"wave_id": "w", "padding": "x" * 33_000})
    response = client.post(
        "/v1/events", content=batch(consent(user, analytics=True), big), headers=bearer(container, str(user))
    )
    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    assert "at most 32768" in response.json()["rejected"][0]["errors"][0]["message"]


def test_clock_skew_is_corrected_from_sent_at(client: Client, container: Container) -> None:
    user = uuid.uuid4()
    device_now = datetime.now(UTC) + timedelta(hours=3)  # the phone's clock runs 3 h fast
    body = batch(consent(user, analytics=True, at=device_now), sent_at=device_now)
    response = client.post("/v1/events", content=body, headers=bearer(container, str(user)))
    assert response.json()["accepted"] == 1
    uncorrected = client.post(
        "/v1/events", content=batch(consent(user, analytics=True, at=device_now)), headers=bearer(container, str(user))
    )
    assert "future" in uncorrected.json()["rejected"][0]["errors"][0]["message"]


def test_health_and_readiness(client: Client) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode), st.just(gzip.compress(b"{}"))))
def test_nothing_a_client_sends_causes_a_server_error(client: Client, container: Container, body: bytes) -> None:
    response = client.post("/v1/events", content=body, headers=bearer(container, "svc", "service"))
    assert response.status_code < 500, response.text


def test_the_running_service_keeps_projections_current(settings: Settings) -> None:
    container = bootstrap(msgspec.structs.replace(settings, projection_interval_seconds=0.05))
    user, at = uuid.uuid4(), datetime.now(UTC)  # the event's own time names its day, whenever the test runs
    try:
        with TestClient(app=create_app(container)) as running:
            response = running.post(
                "/v1/events", content=batch(consent(user, analytics=True, at=at)), headers=bearer(container, str(user))
            )
            assert response.json()["accepted"] == 1
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and container.daily_counts_view.position() == 0:
                time.sleep(0.05)
        assert container.daily_counts_view.counts() == {(at.date(), "user_consent_update"): 1}
    finally:
        container.close()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    raw=catalog_events(),
    path=st.sampled_from(
        ["event_id", "user_id", "timestamp", "properties", "context", "privacy", "session_id", "event_name"]
    ),
    value=JSON_VALUES,
    sent_at=st.one_of(st.none(), JSON_VALUES),
)
def test_a_valid_event_with_any_field_replaced_by_any_json_never_causes_a_server_error(
    client: Client, container: Container, raw: dict[str, object], path: str, value: object, sent_at: object
) -> None:
    broken = {**raw, path: value}
    body: dict[str, object] = {"batch": [broken, raw]}
    if sent_at is not None:
        body["sent_at"] = sent_at
    response = client.post("/v1/events", content=msgspec.json.encode(body), headers=bearer(container, "svc", "service"))
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        assert response.json()["rejected"] or broken == raw or path == "session_id"


def test_a_sent_at_too_far_away_to_correct_by_is_a_rejection_not_an_error(client: Client, container: Container) -> None:
    user = uuid.uuid4()
    body = batch(consent(user, analytics=True))[:-1] + b',"sent_at":"9999-12-31T00:00:00Z"}'
    response = client.post("/v1/events", content=body, headers=bearer(container, str(user)))
    assert response.status_code == 200, response.text
    assert response.json()["rejected"][0]["errors"][0]["path"] == "sent_at"


def test_a_user_token_matches_its_user_id_however_the_uuid_is_spelled(client: Client, container: Container) -> None:
    user = uuid.uuid4()
    spelled = user.hex.upper()
    response = client.post(
        "/v1/events", content=batch(consent(user, analytics=True)), headers=bearer(container, spelled)
    )
    assert response.json()["accepted"] == 1


def test_an_analyst_token_cannot_send_events(client: Client, container: Container) -> None:
    user = uuid.uuid4()
    response = client.post(
        "/v1/events", content=batch(consent(user, analytics=True)), headers=bearer(container, str(user), "analyst")
    )
    error = response.json()["rejected"][0]["errors"][0]
    assert error["path"] == "user_id"
    assert "role 'analyst'" in error["message"]


def test_a_request_whose_events_are_all_rejected_still_quarantines_them(client: Client, container: Container) -> None:
    user = uuid.uuid4()
    bad = event("wave_left", user, {"wave_id": "w", "duration_seconds": -5})
    response = client.post(
        "/v1/events", content=batch(bad, b'{"event_name": "nope"}'), headers=bearer(container, str(user))
    )
    assert response.json()["accepted"] == 0
    assert len(response.json()["rejected"]) == 2
    assert len(list(container.quarantine.entries())) == 2
