"""Rejected events cost their sender, against ``addvalue serve`` on SQLite and PostgreSQL (issue 13, item 6).

A rejected event is still work and still kept (quarantine), so it is charged
to the sender's token bucket like an accepted one, and a sender whose events
keep failing meets a quarantine cap of its own (429) before filling the store.
The served process takes its limits from the environment, whose smallest burst
is one full Segment batch (2,500): the senders here send 2,500 broken events.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from entrypoints.bootstrap import bootstrap
from entrypoints.settings import MIN_BURST, load_settings
from tests.e2e.served import Served, start_served
from tests.fakes import consent, event

# A burst of MIN_BURST, then one event in 10,000 s: nothing refills while a test runs, however slow the machine.
SLOW = f"0.0001/{MIN_BURST}"


@pytest.fixture
def serve(backend: str, tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Served]]:
    """Start ``addvalue serve`` with these limits (stopped when the test ends)."""
    with contextlib.ExitStack() as stack:
        yield lambda env: stack.enter_context(start_served(backend, tmp_path, env=env))


def batch(*events: bytes) -> bytes:
    return b'{"batch":[' + b",".join(events) + b"]}"


def broken(user: uuid.UUID) -> bytes:
    return event("wave_joined", user, {"wave_id": 7})


def send_broken(http: httpx.Client, headers: dict[str, str], about: Callable[[], uuid.UUID], n: int) -> None:
    """``n`` events the catalog rejects, in batches of at most 1,000, each answered 200 with all rejected."""
    while n:
        size = min(n, 1000)
        answer = http.post("/v1/events", content=batch(*(broken(about()) for _ in range(size))), headers=headers)
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["rejected"]) == size
        n -= size


def test_rejected_events_count_against_the_senders_rate_limit(serve: Callable[[dict[str, str]], Served]) -> None:
    service = serve({"ADDVALUE_RATE_LIMIT_USER": SLOW, "ADDVALUE_QUARANTINE_LIMIT_SENDER": "0"})
    me, someone = uuid.uuid4(), uuid.uuid4()
    mine = service.bearer(str(me), "user")
    with httpx.Client(base_url=service.base_url, timeout=30) as http:
        send_broken(http, mine, lambda: me, MIN_BURST - 1)
        send_broken(http, mine, lambda: someone, 1)

        valid = http.post("/v1/events", content=batch(consent(me, analytics=True)), headers=mine)

    assert valid.status_code == 429, valid.text
    assert int(valid.headers["retry-after"]) > 0


def test_a_sender_over_its_quarantine_cap_gets_429_and_nothing_more_is_kept(
    serve: Callable[[dict[str, str]], Served],
) -> None:
    service = serve({"ADDVALUE_QUARANTINE_LIMIT_SENDER": SLOW})
    backend = service.bearer("backend", "service")
    with httpx.Client(base_url=service.base_url, timeout=30) as http:
        send_broken(http, backend, uuid.uuid4, MIN_BURST)

        over = http.post("/v1/events", content=batch(broken(uuid.uuid4())), headers=backend)

        assert over.status_code == 429, over.text
        assert "quarantine" in over.json()["detail"]
        assert int(over.headers["retry-after"]) > 0
        with bootstrap(load_settings(service.env)) as reader:
            assert len(list(reader.quarantine.entries())) == MIN_BURST
        other = http.post("/v1/events", content=batch(broken(uuid.uuid4())), headers=service.bearer("other", "service"))
        assert other.status_code == 200  # the cap is per sender
