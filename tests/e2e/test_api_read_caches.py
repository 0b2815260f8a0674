"""What the API serves from memory, end to end over real storage: answers about closed periods (each computed
once even when asked for many times at once), the live counters for half a second; and that every request is
still in the access log, whose chain still verifies."""

from __future__ import annotations

import asyncio
import functools
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from entrypoints.settings import Settings
from tests.e2e.api_support import CLOSED_DAY, Api, person_with_indices, running_api


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    with running_api(settings) as running:
        yield running


def counted(api: Api, name: str, *, hold: threading.Event | None = None) -> list[int]:
    """Count the calls of one Analytics use case (the real one runs), optionally holding each until ``hold``."""
    analytics = api.container.analytics
    real: Callable[..., Any] = getattr(analytics, name)
    calls: list[int] = []

    @functools.wraps(real)
    def wrapper(*args: Any) -> Any:
        calls.append(1)
        if hold is not None:
            hold.wait(10)
        return real(*args)

    setattr(analytics, name, wrapper)
    return calls


async def asgi_get(api: Api, path: str, query: str, token: str) -> tuple[int, dict[str, str]]:
    """One GET straight into the ASGI app (several can run at once, unlike through the test client)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"test"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    started: dict[str, Any] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.update(message)

    await api.client.app(scope, receive, send)  # type: ignore[arg-type]
    headers = {k.decode().lower(): v.decode() for k, v in started["headers"]}
    return int(started["status"]), headers


def test_a_closed_days_answer_is_computed_once_even_when_asked_for_many_times_at_once(api: Api) -> None:
    person_with_indices(api.container)
    hold = threading.Event()
    calls = counted(api, "index_dashboard", hold=hold)
    token = api.token("ana", "analyst")
    day = CLOSED_DAY.isoformat()

    async def many() -> list[tuple[int, dict[str, str]]]:
        asking = [asyncio.create_task(asgi_get(api, "/api/dashboard/flourish", f"from={day}&to={day}", token))]
        await asyncio.sleep(0.2)  # the first is computing (held)
        asking += [
            asyncio.create_task(asgi_get(api, "/api/dashboard/flourish", f"from={day}&to={day}", token))
            for _ in range(7)
        ]
        await asyncio.sleep(0.2)
        hold.set()
        return await asyncio.gather(*asking)

    answers = asyncio.run(many())
    assert [status for status, _ in answers] == [200] * 8
    assert len({headers["etag"] for _, headers in answers}) == 1
    assert all(headers["cache-control"] == "private, max-age=300" for _, headers in answers)  # closed
    assert len(calls) == 1
    again = api.get("/api/dashboard/flourish", "analyst", **{"from": day, "to": day})
    assert again.status_code == 200
    assert again.headers["etag"] == answers[0][1]["etag"]
    assert len(calls) == 1  # kept
    other_day = api.get("/api/dashboard/flourish", "analyst", **{"from": "2026-02-19", "to": day})
    assert other_day.status_code == 200
    assert len(calls) == 2  # other parameters: another answer
    # Every one of those requests is in the access log, and the chain holds.
    records = api.container.access_log.page(0, 1000)
    assert [r.route for r in records].count("/api/dashboard/flourish") == 10
    assert api.container.access_log.verify().ok


def test_provisional_and_not_found_answers_are_never_kept(api: Api) -> None:
    calls = counted(api, "active_people_series")
    for _ in range(2):  # the default range ends yesterday: provisional
        response = api.get("/api/dashboard/active-users", "analyst")
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
    assert len(calls) == 2
    summaries = counted(api, "platform_summary")
    for _ in range(2):  # not closed yet: 404, asked again each time
        assert api.get("/api/metrics/platform-summary", "analyst", date=CLOSED_DAY.isoformat()).status_code == 404
    assert len(summaries) == 2
    person_with_indices(api.container)  # closes the day: the next request sees it at once
    found = api.get("/api/metrics/platform-summary", "analyst", date=CLOSED_DAY.isoformat())
    assert found.status_code == 200
    assert found.json()["data"]["value"] == 1


def test_the_live_counters_are_read_once_for_the_requests_of_half_a_second(api: Api) -> None:
    live = api.container.live_activity
    real = live.snapshot
    reads: list[int] = []

    def counting(now: Any) -> Any:
        reads.append(1)
        return real(now)

    live.snapshot = counting  # type: ignore[method-assign]
    started = time.monotonic()
    for path in ("/api/realtime/dau", "/api/realtime/active-sessions", "/api/realtime/live-waves") * 4:
        response = api.get(path, "analyst")
        assert response.status_code == 200
        assert response.json()["metadata"]["confidence"] == "provisional"
    elapsed = time.monotonic() - started
    # At most one reading per half second, however slow the machine: 12 requests in 0.1 s make 1 reading, and
    # a runner that takes 1.2 s for them may make 4 (the exact 0.5 s is timed with a fake clock in tests/unit).
    assert 1 <= len(reads) <= 1 + math.ceil(elapsed / 0.5), (len(reads), elapsed)
    reads.clear()
    threading.Event().wait(0.55)
    assert api.get("/api/realtime/dau", "analyst").status_code == 200
    assert len(reads) == 1  # older than half a second: read again


def test_a_persons_subject_is_looked_up_once_but_an_erasure_counts_at_the_very_next_read(api: Api) -> None:
    me = person_with_indices(api.container)
    readers = api.container.subjects
    real = readers.subject_for
    lookups: list[int] = []

    def counting(app_user_id: Any, *, create: bool = False) -> Any:
        lookups.append(1)
        return real(app_user_id, create=create)

    readers.subject_for = counting  # type: ignore[method-assign]
    params = {"user_id": str(me), "date": CLOSED_DAY.isoformat()}
    for _ in range(3):
        assert api.get("/api/metrics/flourish-index", "user", str(me), **params).status_code == 200
    assert len(lookups) == 1
    api.container.erasure.request(me, requested_by="user")  # pending: the key is still there
    gone = api.get("/api/metrics/flourish-index", "user", str(me), **params)
    assert gone.status_code == 404
    assert "no data is held for this user" in gone.json()["error"]["message"]
