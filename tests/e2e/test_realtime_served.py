"""The real-time WebSocket against ``addvalue serve``, with a real WebSocket client (``websockets``).

Litestar's test client speaks WebSocket without any server library, so only a served process shows
that uvicorn can upgrade the connection at all.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.e2e.served import Served, start_served
from tests.fakes import consent, event

LIVE = "/api/realtime/metrics"


def live_socket(service: Served, headers: dict[str, str]) -> ClientConnection:
    # proxy=None: a proxy from the environment must not stand between the test and the loopback service.
    return connect(service.ws_url + LIVE, additional_headers=headers, proxy=None, open_timeout=10)


def received(socket: ClientConnection, within: float) -> dict[str, Any]:
    message = msgspec.json.decode(socket.recv(timeout=within))
    assert message["status"] == "success"
    data: dict[str, Any] = message["data"]
    return data


def ingest_a_new_active_person(service: Served, person: uuid.UUID | None = None) -> None:
    person, moment = person or uuid.uuid4(), datetime.now(UTC) - timedelta(seconds=30)
    raw = [consent(person, analytics=True, at=moment), event("post_liked", person, {"post_id": "p"}, at=moment)]
    body = b'{"batch":[' + b",".join(raw) + b"]}"
    answer = httpx.post(
        service.base_url + "/v1/events",
        content=body,
        headers={**service.bearer("backend", "service"), "Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def assert_snapshot_then_pushed_update(service: Served) -> None:
    with live_socket(service, service.bearer("ana", "analyst")) as socket:
        assert socket.response is not None
        assert socket.response.status_code == 101
        before = received(socket, within=5)["daily_active_users"]
        ingest_a_new_active_person(service)
        started = time.monotonic()
        update = received(socket, within=1.0)
        assert time.monotonic() - started < 1.0
        assert update["daily_active_users"] == before + 1


def test_the_served_live_feed_upgrades_sends_a_snapshot_and_pushes_an_ingested_change_within_a_second(
    served: Served,
) -> None:
    assert_snapshot_then_pushed_update(served)


def test_the_live_feed_of_two_serve_workers_pushes_an_ingested_change_within_a_second(
    backend: str, tmp_path: Path
) -> None:
    with start_served(backend, tmp_path, workers=2) as service:
        # Each worker has its own feed; the connections land on either, and both must see the change.
        for _ in range(2):
            assert_snapshot_then_pushed_update(service)


# --- one connection, one request: token in headers only, quota, access log, closed at exp -------------------


def closed_with(socket: ClientConnection, within: float) -> int | None:
    """Read until the server closes the socket; its close code (None if still open after ``within`` s)."""
    deadline = time.monotonic() + within
    try:
        while (left := deadline - time.monotonic()) > 0:
            socket.recv(timeout=left)
    except ConnectionClosed:
        return socket.close_code
    except TimeoutError:
        return None
    return None


def test_the_served_live_feed_closes_the_socket_when_its_token_expires(served: Served) -> None:
    headers = served.bearer("ana", "analyst", valid_for=timedelta(seconds=3))
    started = time.monotonic()
    with live_socket(served, headers) as socket:
        received(socket, within=5)
        assert closed_with(socket, within=8) == 4401
    assert 1.5 < time.monotonic() - started < 6


def test_the_served_live_feed_refuses_a_token_in_the_url(served: Served) -> None:
    query = f"?access_token={served.token('ana', 'analyst')}"
    with connect(served.ws_url + LIVE + query, proxy=None, open_timeout=10) as socket:
        assert closed_with(socket, within=5) == 4401
        assert socket.close_reason is not None
        assert "Authorization" in socket.close_reason


def test_the_served_live_feed_takes_the_token_as_the_bearer_subprotocol(served: Served) -> None:
    offered = [Subprotocol("bearer"), Subprotocol(served.token("ana", "analyst"))]
    with connect(served.ws_url + LIVE, subprotocols=offered, proxy=None, open_timeout=10) as socket:
        assert socket.subprotocol == "bearer"
        assert "daily_active_users" in received(socket, within=5)


def test_each_served_live_feed_connection_is_one_quota_request_and_one_access_record(served: Served) -> None:
    headers = served.bearer(f"ana-{uuid.uuid4()}", "analyst")

    def remaining() -> int:
        answer = httpx.get(served.base_url + "/api/realtime/dau", headers=headers, timeout=10)
        assert answer.status_code == 200
        return int(answer.headers["RateLimit-Remaining"])

    before = remaining()
    with live_socket(served, headers) as socket:
        received(socket, within=5)
    assert before - remaining() == 2  # the socket, then this request
    log = httpx.get(
        served.base_url + "/api/audit/access-log", params={"limit": 1000}, headers=served.bearer("aud", "auditor")
    )
    records = [r for r in log.json()["data"]["records"] if r["route"] == LIVE]
    assert [(r["status"], r["role"], r["outcome"]) for r in records] == [(101, "analyst", "allowed")]
