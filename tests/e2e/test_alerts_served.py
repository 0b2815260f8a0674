"""The seed's four alerts fire and resolve end to end: ``addvalue serve`` evaluates, real receivers get them.

The receivers are real: an HTTP server for the webhook (Alertmanager's body,
version 4) and Slack receivers, aiosmtpd for email. The alert file keeps the
seed's names and conditions; windows are 3 s instead of 5 minutes, and the
lag threshold 3 s instead of 5 minutes, because this process runs on the wall
clock. The seed's own thresholds are driven by an injected clock in
tests/integration/test_alerting.py.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.alert_receivers import HttpReceiver, Mailbox, http_receiver, smtp_server, wait_for
from tests.e2e.served import Served, start_served
from tests.fakes import consent, event

ALERT_FILE = """
alerts:
  - name: "High Event Error Rate"
    condition: "error_rate > 1%"
    severity: "warning"
    notification: "data_team"
    window: 3s
  - name: "Pipeline Lag"
    condition: "processing_lag > 3s"
    severity: "critical"
    notification: "engineering_team"
  - name: "Batch Job Failure"
    condition: "daily_job_failed = true"
    severity: "critical"
    notification: "on_call"
  - name: "Data Quality Issue"
    condition: "null_rate > 5% OR duplicate_rate > 1%"
    severity: "warning"
    notification: "data_team"
    window: 3s
receivers:
  data_team:
    - webhook: {hook}/data
  engineering_team:
    - slack: {hook}/engineering
  on_call:
    - email: on-call@example.org
"""


@pytest.fixture
def receivers() -> Iterator[tuple[HttpReceiver, Mailbox]]:
    with http_receiver() as hook, smtp_server() as mailbox:
        yield hook, mailbox


def _serve(tmp_path: Path, hook: HttpReceiver, mailbox: Mailbox) -> Any:
    alert_file = tmp_path / "alerts.yaml"
    alert_file.write_text(ALERT_FILE.format(hook=hook.url("")))
    env = {
        "ADDVALUE_ALERTS_FILE": str(alert_file),
        "ADDVALUE_ALERT_INTERVAL_SECONDS": "0.5",
        "ADDVALUE_PROJECTION_INTERVAL_SECONDS": "0.2",
        "ADDVALUE_SMTP_URL": f"smtp://127.0.0.1:{mailbox.port}",
    }
    return start_served("sqlite", tmp_path, env=env)


def _send(served: Served, user: uuid.UUID, events: list[bytes]) -> dict[str, Any]:
    answer = httpx.post(
        f"{served.base_url}/v1/events",
        content=b'{"batch":[' + b",".join(events) + b"]}",
        headers=served.bearer(str(user), "user"),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_two_percent_invalid_events_fire_high_event_error_rate_at_the_webhook_then_resolve(
    tmp_path: Path, receivers: tuple[HttpReceiver, Mailbox]
) -> None:
    hook, mailbox = receivers
    user = uuid.uuid4()
    with _serve(tmp_path, hook, mailbox) as served:
        _send(served, user, [consent(user, analytics=True)])
        good = [event("wave_joined", user, {"wave_id": "w"}) for _ in range(97)]
        bad = [event("wave_joined", user, {}) for _ in range(2)]  # wave_id missing: rejected
        report = _send(served, user, good + bad)
        assert len(report["rejected"]) == 2

        firing = wait_for(lambda: hook.bodies("/data"), what="a notification at the data team's webhook")
        body = firing[0]
        assert body["version"] == "4"
        assert body["status"] == "firing"
        assert body["alerts"][0]["labels"] == {"alertname": "High Event Error Rate", "severity": "warning"}
        assert body["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
        # The window passes with no error: resolved, with the same fingerprint and an end time.
        resolved = wait_for(
            lambda: [b for b in hook.bodies("/data") if b["status"] == "resolved"], what="the resolve notification"
        )
        assert resolved[0]["alerts"][0]["fingerprint"] == body["alerts"][0]["fingerprint"]
        assert resolved[0]["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
        assert [b["status"] for b in hook.bodies("/data")] == ["firing", "resolved"]

        states = httpx.get(f"{served.base_url}/api/alerts", headers=served.bearer("analyst-1", "analyst"), timeout=10)
        assert states.status_code == 200
        history = [(t["alert"], t["to"]) for t in states.json()["data"]["history"]]
        assert history == [("High Event Error Rate", "firing"), ("High Event Error Rate", "resolved")]


def test_duplicates_over_one_percent_fire_data_quality_issue_then_resolve(
    tmp_path: Path, receivers: tuple[HttpReceiver, Mailbox]
) -> None:
    hook, mailbox = receivers
    user = uuid.uuid4()
    with _serve(tmp_path, hook, mailbox) as served:
        _send(served, user, [consent(user, analytics=True)])
        batch = [event("wave_joined", user, {"wave_id": "w"}) for _ in range(100)]
        _send(served, user, batch)
        assert _send(served, user, batch[:3])["duplicates"] == 3  # 3 of 104 submitted: 2.9%

        wait_for(lambda: hook.bodies("/data"), what="Data Quality Issue at the webhook")
        first = hook.bodies("/data")[0]
        assert (first["status"], first["commonLabels"]["alertname"]) == ("firing", "Data Quality Issue")
        wait_for(lambda: len(hook.bodies("/data")) >= 2, what="the resolve")
        assert [b["status"] for b in hook.bodies("/data")] == ["firing", "resolved"]


def test_a_stalled_projection_fires_pipeline_lag_on_slack_and_resolves_when_it_catches_up(
    tmp_path: Path, receivers: tuple[HttpReceiver, Mailbox]
) -> None:
    hook, mailbox = receivers
    user = uuid.uuid4()
    (tmp_path / "var").mkdir(mode=0o700)
    # The daily_counts projection's lease, held by this test: the service cannot run it (stalled).
    lease = os.open(tmp_path / "var" / "addvalue.daily_counts.lease", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lease, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        with _serve(tmp_path, hook, mailbox) as served:
            _send(served, user, [consent(user, analytics=True)])
            firing = wait_for(lambda: hook.bodies("/engineering"), what="Pipeline Lag on the Slack receiver")
            assert firing[0]["text"].startswith("[FIRING] Pipeline Lag (critical)")
            os.close(lease)  # released: the service takes the lease and catches up
            lease = -1
            resolved = wait_for(lambda: hook.bodies("/engineering")[1:], what="the resolve on Slack")
            assert resolved[0]["text"].startswith("[RESOLVED] Pipeline Lag")
    finally:
        if lease >= 0:
            os.close(lease)


def test_a_failed_daily_job_fires_batch_job_failure_by_email_and_resolves_when_it_succeeds(
    tmp_path: Path, receivers: tuple[HttpReceiver, Mailbox]
) -> None:
    hook, mailbox = receivers
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    with _serve(tmp_path, hook, mailbox) as served:
        views = sqlite3.connect(tmp_path / "var" / "addvalue.user_days.db", isolation_level=None)
        # The close-day job reads this table: put in its place a view over a table that is gone, and the
        # job fails for real when it reads it (and its run is recorded as failed).
        views.executescript(
            "ALTER TABLE user_day_counts RENAME TO user_day_counts_away; CREATE TABLE gone (x);"
            " CREATE VIEW user_day_counts AS SELECT x FROM gone; DROP TABLE gone;"
        )
        assert _close_day(served, yesterday).returncode == 1

        wait_for(lambda: mailbox.messages, what="an email to on-call")
        sent = mailbox.messages[0]
        assert sent["To"] == "on-call@example.org"
        assert sent["Subject"] == "[FIRING] Batch Job Failure (critical)"

        views.executescript("DROP VIEW user_day_counts; ALTER TABLE user_day_counts_away RENAME TO user_day_counts;")
        views.close()
        assert _close_day(served, yesterday).returncode == 0  # the rerun succeeds: the latest run is fine
        wait_for(lambda: len(mailbox.messages) >= 2, what="the resolve email")
        assert mailbox.messages[1]["Subject"] == "[RESOLVED] Batch Job Failure (critical)"
        assert len(mailbox.messages) == 2


def _close_day(served: Served, day: str) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", "entrypoints.cli", "jobs", "run", "close-day", "--date", day]
    return subprocess.run(command, env=served.env, cwd=served.workdir, capture_output=True, timeout=120, check=False)


def test_an_admin_s_silence_stops_the_notification_not_the_evaluation(
    tmp_path: Path, receivers: tuple[HttpReceiver, Mailbox]
) -> None:
    hook, mailbox = receivers
    user = uuid.uuid4()
    with _serve(tmp_path, hook, mailbox) as served:
        silences = f"{served.base_url}/api/alerts/silences"
        body = {"matchers": [{"name": "alertname", "value": "High Event Error Rate"}], "comment": "load test"}
        refused = httpx.post(silences, json=body, headers=served.bearer("analyst-1", "analyst"), timeout=10)
        assert refused.status_code == 403
        made = httpx.post(silences, json=body, headers=served.bearer("admin-1", "admin"), timeout=10)
        assert made.status_code == 200, made.text
        assert made.json()["data"]["silence"]["author"].startswith("admin")

        _send(served, user, [consent(user, analytics=True)])
        # All rejected (a number where text is expected: not a missing field, so no Data Quality Issue).
        _send(served, user, [event("wave_joined", user, {"wave_id": 5}) for _ in range(3)])

        def states() -> dict[str, Any]:
            answer = httpx.get(f"{served.base_url}/api/alerts", headers=served.bearer("admin-1", "admin"), timeout=10)
            data: dict[str, Any] = answer.json()["data"]
            return data

        wait_for(lambda: ("High Event Error Rate", "resolved") in [(t["alert"], t["to"]) for t in states()["history"]])
        assert hook.bodies("/data") == []  # evaluated, fired and resolved; nothing sent
        silence_id = made.json()["data"]["silence"]["id"]
        ended = httpx.delete(f"{silences}/{silence_id}", headers=served.bearer("admin-1", "admin"), timeout=10)
        assert ended.status_code == 200
        assert states()["silences"] == []
