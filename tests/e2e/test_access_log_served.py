"""The access log of the served process (`addvalue serve`, SQLite and PostgreSQL): refused requests cannot grow it
one row each."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime

import httpx

from application.api_access.denials import DENIAL_LIMIT
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import load_settings
from tests.e2e.served import Served


def _records(served: Served) -> int:
    container = bootstrap(load_settings(served.env))
    try:
        report = container.access_log.verify()
        assert report.ok, report.problem
        return report.records
    finally:
        container.close()


def test_twenty_five_anonymous_requests_add_at_most_one_summary_row_to_the_access_log(served: Served) -> None:
    if datetime.now(UTC).second >= 50:  # the 25 requests fall in one minute, so in one summary at most
        time.sleep(61 - datetime.now(UTC).second)
    before = _records(served)
    with httpx.Client(base_url=served.base_url, timeout=10) as client:
        statuses = [client.get("/api/realtime/dau").status_code for _ in range(25)]
        assert set(statuses) <= {401, 429}
        assert _records(served) - before <= 1
        allowed = client.get("/api/realtime/dau", headers=served.bearer("analyst-1", "analyst"))
        assert allowed.status_code == 200
    added = _records(served) - before
    assert 1 <= added <= 2  # the allowed request's own row, and perhaps the summary


def test_refused_requests_from_one_network_past_the_burst_are_answered_429_with_retry_after(served: Served) -> None:
    with httpx.Client(base_url=served.base_url, timeout=10) as client:
        answers = [client.get("/api/realtime/dau") for _ in range(int(DENIAL_LIMIT.burst) + 5)]
    assert {a.status_code for a in answers[: int(DENIAL_LIMIT.burst) - 5]} == {401}
    limited = [a for a in answers if a.status_code == 429]
    assert limited
    assert all(int(a.headers["retry-after"]) >= 1 for a in limited)
    assert "refused requests" in limited[-1].json()["error"]["message"]


def test_refusals_counted_in_the_minute_a_service_stops_are_written_before_it_exits(served: Served) -> None:
    # A stop used to lose the current minute's counts: they were only written by a timer once the minute was over.
    before = _records(served)
    with httpx.Client(base_url=served.base_url, timeout=10) as client:
        statuses = [client.get("/api/realtime/dau").status_code for _ in range(5)]  # no token: 401, under the burst
    assert statuses == [401] * 5
    served.stop()  # SIGTERM: uvicorn's graceful shutdown, as an operator's restart
    assert served.process is not None
    # uvicorn ends its graceful shutdown by raising the signal again; a SIGKILL (-9) would mean it hung.
    assert served.process.returncode == -signal.SIGTERM, served.output()
    container = bootstrap(load_settings(served.env))
    try:
        report = container.access_log.verify()
        assert report.ok, report.problem
        written = container.access_log.page(before, 100)
    finally:
        container.close()
    refused = [r for r in written if r.outcome == "denied" and r.route == "/api/realtime/dau"]
    assert sum(r.requests for r in refused) == 5, written  # one summary, or two across a minute's end
    assert {(r.status, r.principal.startswith("net:")) for r in refused} == {(401, True)}
    assert "summary_append_failed" not in served.output()
