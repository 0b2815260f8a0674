"""The access log of the served process (`addvalue serve`): refused requests cannot grow it one row each."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from application.api_access.denials import DENIAL_LIMIT
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import load_settings


@pytest.fixture
def served(workdir: Path) -> Iterator[str]:
    """``addvalue serve`` on a free port of loopback, SQLite in the working folder; its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "ADDVALUE_PORT": str(port), "PYTHONPATH": str(Path(__file__).parents[2])}
    server = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "serve"], env=env, cwd=workdir)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)


def _records() -> int:
    container = bootstrap(load_settings())
    try:
        report = container.access_log.verify()
        assert report.ok, report.problem
        return report.records
    finally:
        container.close()


def test_twenty_five_anonymous_requests_add_at_most_one_summary_row_to_the_access_log(served: str) -> None:
    if datetime.now(UTC).second >= 50:  # the 25 requests fall in one minute, so in one summary at most
        time.sleep(61 - datetime.now(UTC).second)
    before = _records()
    with httpx.Client(base_url=served, timeout=10) as client:
        statuses = [client.get("/api/realtime/dau").status_code for _ in range(25)]
        assert set(statuses) <= {401, 429}
        assert _records() - before <= 1
        container = bootstrap(load_settings())
        try:
            token = container.tokens.mint("analyst-1", "analyst")
        finally:
            container.close()
        allowed = client.get("/api/realtime/dau", headers={"Authorization": f"Bearer {token}"})
        assert allowed.status_code == 200
    added = _records() - before
    assert 1 <= added <= 2  # the allowed request's own row, and perhaps the summary


def test_refused_requests_from_one_network_past_the_burst_are_answered_429_with_retry_after(served: str) -> None:
    with httpx.Client(base_url=served, timeout=10) as client:
        answers = [client.get("/api/realtime/dau") for _ in range(int(DENIAL_LIMIT.burst) + 5)]
    assert {a.status_code for a in answers[: int(DENIAL_LIMIT.burst) - 5]} == {401}
    limited = [a for a in answers if a.status_code == 429]
    assert limited
    assert all(int(a.headers["retry-after"]) >= 1 for a in limited)
    assert "refused requests" in limited[-1].json()["error"]["message"]
