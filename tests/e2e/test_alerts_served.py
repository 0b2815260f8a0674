"""The seed's four alerts fire and resolve end to end: ``addvalue serve`` evaluates, real receivers get them.

On SQLite and on PostgreSQL. The receivers are real: an HTTP server for the
webhook (Alertmanager's body, version 4) and Slack receivers, aiosmtpd for email. The alert file keeps the
seed's names and conditions; windows are 3 s instead of 5 minutes, and the
lag threshold 3 s instead of 5 minutes, because this process runs on the wall
clock. The seed's own thresholds are driven by an injected clock in
tests/integration/test_alerting.py.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import psycopg
import pytest

from tests.alert_receivers import HttpReceiver, Mailbox, http_receiver, smtp_server, wait_for
from tests.conftest import POSTGRES_URL
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


class Alerting(NamedTuple):
    """The served process with its alert file, and the real receivers it notifies."""

    served: Served
    hook: HttpReceiver
    mailbox: Mailbox
    backend: str

    def consented(self) -> uuid.UUID:
        """A new person who consented to analytics: their events count."""
        user = uuid.uuid4()
        self.send(user, [consent(user, analytics=True)])
        return user

    def send(self, user: uuid.UUID, events: list[bytes]) -> dict[str, Any]:
        answer = httpx.post(
            f"{self.served.base_url}/v1/events",
            content=b'{"batch":[' + b",".join(events) + b"]}",
            headers=self.served.bearer(str(user), "user"),
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def alerts(self, role: str = "analyst") -> dict[str, Any]:
        answer = httpx.get(f"{self.served.base_url}/api/alerts", headers=self.served.bearer(role, role), timeout=10)  # type: ignore[arg-type]
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()["data"]
        return data

    def change_views(self, *statements: str) -> None:
        """DDL in the views' database, as an operator's mistake would be: the user-days file, or the schema."""
        if self.backend == "sqlite":
            with contextlib.closing(sqlite3.connect(self.served.workdir / "var" / "addvalue.user_days.db")) as db:
                db.executescript("; ".join(statements))
            return
        assert POSTGRES_URL is not None
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"SET search_path TO {self.served.env['ADDVALUE_DATABASE_SCHEMA']}")
            for statement in statements:
                conn.execute(statement)  # type: ignore[arg-type]


@contextlib.contextmanager
def _serving(backend: str, tmp_path: Path, schema: str) -> Iterator[Alerting]:
    with http_receiver() as hook, smtp_server() as mailbox:
        alert_file = tmp_path / "alerts.yaml"
        alert_file.write_text(ALERT_FILE.format(hook=hook.url("")))
        env = {
            "ADDVALUE_ALERTS_FILE": str(alert_file),
            "ADDVALUE_ALERT_INTERVAL_SECONDS": "0.5",
            "ADDVALUE_PROJECTION_INTERVAL_SECONDS": "0.2",
            "ADDVALUE_SMTP_URL": f"smtp://127.0.0.1:{mailbox.port}",
        }
        if backend != "sqlite":
            env["ADDVALUE_DATABASE_SCHEMA"] = schema
        with start_served(backend, tmp_path, env=env) as served:
            yield Alerting(served, hook, mailbox, backend)


@pytest.fixture
def schema(backend: str) -> Iterator[str]:
    """The PostgreSQL schema of the service, dropped afterwards; unused on SQLite."""
    name = f"s_{uuid.uuid4().hex[:12]}"
    yield name
    if backend != "sqlite" and POSTGRES_URL is not None:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
            conn.execute(f"DROP SCHEMA IF EXISTS {name}_keys CASCADE")


@pytest.fixture
def alerting(backend: str, tmp_path: Path, schema: str) -> Iterator[Alerting]:
    with _serving(backend, tmp_path, schema) as served:
        yield served


def test_two_percent_invalid_events_fire_high_event_error_rate_at_the_webhook_then_resolve(alerting: Alerting) -> None:
    user, hook = alerting.consented(), alerting.hook
    good = [event("wave_joined", user, {"wave_id": "w"}) for _ in range(97)]
    bad = [event("wave_joined", user, {}) for _ in range(2)]  # wave_id missing: rejected
    assert len(alerting.send(user, good + bad)["rejected"]) == 2

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
    history = [(t["alert"], t["to"]) for t in alerting.alerts()["history"]]
    assert history == [("High Event Error Rate", "firing"), ("High Event Error Rate", "resolved")]


def test_duplicates_over_one_percent_fire_data_quality_issue_then_resolve(alerting: Alerting) -> None:
    user, hook = alerting.consented(), alerting.hook
    batch = [event("wave_joined", user, {"wave_id": "w"}) for _ in range(100)]
    alerting.send(user, batch)
    assert alerting.send(user, batch[:3])["duplicates"] == 3  # 3 of 104 submitted: 2.9%

    first = wait_for(lambda: hook.bodies("/data"), what="Data Quality Issue at the webhook")[0]
    assert (first["status"], first["commonLabels"]["alertname"]) == ("firing", "Data Quality Issue")
    wait_for(lambda: len(hook.bodies("/data")) >= 2, what="the resolve")
    assert [b["status"] for b in hook.bodies("/data")] == ["firing", "resolved"]


def test_missing_fields_over_five_percent_fire_data_quality_issue(alerting: Alerting) -> None:
    user, hook = alerting.consented(), alerting.hook
    good = [event("wave_joined", user, {"wave_id": "w"}) for _ in range(100)]
    alerting.send(user, good + [event("wave_joined", user, {}) for _ in range(7)])  # 7 of 108: 6.5% null rate
    # The error rate fires too (7 rejected), in a notification of its own that may arrive first:
    # wait for the data quality one, whatever the order.
    quality = wait_for(
        lambda: [
            b
            for b in hook.bodies("/data")
            if b["status"] == "firing" and b["commonLabels"]["alertname"] == "Data Quality Issue"
        ],
        what="Data Quality Issue at the webhook",
    )[0]
    firing = {b["commonLabels"]["alertname"] for b in hook.bodies("/data") if b["status"] == "firing"}
    assert firing <= {"Data Quality Issue", "High Event Error Rate"}, firing
    assert f"null_rate={7 / 108:g}" in quality["alerts"][0]["annotations"]["description"]


@contextlib.contextmanager
def _lease_held(alerting_backend: str, tmp_path: Path, schema: str, name: str) -> Iterator[Any]:
    """The projection's lease, held by this test: the service cannot run it (stalled) until released."""
    if alerting_backend == "sqlite":
        (tmp_path / "var").mkdir(mode=0o700)
        lease = os.open(tmp_path / "var" / f"addvalue.{name}.lease", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(lease, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with contextlib.closing(os.fdopen(lease)) as held:
            yield held
        return
    assert POSTGRES_URL is not None
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"addvalue:{schema}:{name}",))
        yield conn


def test_a_stalled_projection_fires_pipeline_lag_on_slack_and_resolves_when_it_catches_up(
    backend: str, tmp_path: Path, schema: str
) -> None:
    with (
        _lease_held(backend, tmp_path, schema, "daily_counts") as lease,
        _serving(backend, tmp_path, schema) as alerting,
    ):
        alerting.consented()
        firing = wait_for(lambda: alerting.hook.bodies("/engineering"), what="Pipeline Lag on the Slack receiver")
        assert firing[0]["text"].startswith("[FIRING] Pipeline Lag (critical)")
        lease.close()  # released: the service takes the lease and catches up
        resolved = wait_for(lambda: alerting.hook.bodies("/engineering")[1:], what="the resolve on Slack")
        assert resolved[0]["text"].startswith("[RESOLVED] Pipeline Lag")


def test_a_failed_daily_job_fires_batch_job_failure_by_email_and_resolves_when_it_succeeds(alerting: Alerting) -> None:
    yesterday, mailbox = (datetime.now(UTC) - timedelta(days=1)).date().isoformat(), alerting.mailbox
    # The close-day job reads this table: put in its place a view without its columns, and the job
    # fails for real when it reads it (and its run is recorded as failed).
    alerting.change_views(
        "ALTER TABLE user_day_counts RENAME TO user_day_counts_away", "CREATE VIEW user_day_counts AS SELECT 1 AS x"
    )
    assert _close_day(alerting.served, yesterday).returncode == 1

    wait_for(lambda: mailbox.messages, what="an email to on-call")
    sent = mailbox.messages[0]
    assert sent["To"] == "on-call@example.org"
    assert sent["Subject"] == "[FIRING] Batch Job Failure (critical)"

    alerting.change_views("DROP VIEW user_day_counts", "ALTER TABLE user_day_counts_away RENAME TO user_day_counts")
    assert _close_day(alerting.served, yesterday).returncode == 0  # the rerun succeeds: the latest run is fine
    wait_for(lambda: len(mailbox.messages) >= 2, what="the resolve email")
    assert mailbox.messages[1]["Subject"] == "[RESOLVED] Batch Job Failure (critical)"
    assert len(mailbox.messages) == 2


def _close_day(served: Served, day: str) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", "entrypoints.cli", "jobs", "run", "close-day", "--date", day]
    return subprocess.run(command, env=served.env, cwd=served.workdir, capture_output=True, timeout=120, check=False)


def test_an_admin_s_silence_stops_the_notification_not_the_evaluation(alerting: Alerting) -> None:
    served = alerting.served
    silences = f"{served.base_url}/api/alerts/silences"
    body = {"matchers": [{"name": "alertname", "value": "High Event Error Rate"}], "comment": "load test"}
    refused = httpx.post(silences, json=body, headers=served.bearer("analyst-1", "analyst"), timeout=10)
    assert refused.status_code == 403
    made = httpx.post(silences, json=body, headers=served.bearer("admin-1", "admin"), timeout=10)
    assert made.status_code == 200, made.text
    assert made.json()["data"]["silence"]["author"].startswith("admin")

    user = alerting.consented()
    # All rejected (a number where text is expected: not a missing field, so no Data Quality Issue).
    alerting.send(user, [event("wave_joined", user, {"wave_id": 5}) for _ in range(3)])
    resolved = ("High Event Error Rate", "resolved")
    wait_for(lambda: resolved in [(t["alert"], t["to"]) for t in alerting.alerts("admin")["history"]])
    assert alerting.hook.bodies("/data") == []  # evaluated, fired and resolved; nothing sent
    silence_id = made.json()["data"]["silence"]["id"]
    ended = httpx.delete(f"{silences}/{silence_id}", headers=served.bearer("admin-1", "admin"), timeout=10)
    assert ended.status_code == 200
    assert alerting.alerts("admin")["silences"] == []
