"""The addvalue command line against a real SQLite store: demo, history, erase, project, token."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from application.api_access.ports import AccessEntry
from application.principals import Principal
from entrypoints.bootstrap import bootstrap
from entrypoints.cli.main import main
from entrypoints.demo import demo_user_ids
from entrypoints.runtime import BACKGROUND_NICENESS
from entrypoints.settings import load_settings
from tests.fakes import consent, event

SERVICE = Principal(subject="tests", role="service")


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """What the command line says on standard error when it refuses ``argv`` with exit status 2."""
    assert main(argv) == 2
    return capsys.readouterr().err


def test_demo_then_history_then_erase_then_history_is_redacted(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--users", "5", "--days", "3", "--seed", "11"]) == 0
    summary = capsys.readouterr().out
    assert "rejected 0" in summary
    assert "accepted" in summary

    consenting = None
    for user in demo_user_ids(5, 11):
        if main(["history", "--user", str(user)]) == 0:
            consenting = user
            break
    assert consenting is not None, "no demo user consented"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines
    assert not any(line["redacted"] for line in lines)
    assert any(line["event_type"] == "Session.EventsTracked" for line in lines)

    assert main(["erase", "--user", str(consenting)]) == 0
    subject = capsys.readouterr().out.split("subject ")[1].split(";")[0]
    assert main(["history", "--user", str(consenting)]) == 1  # the mapping is gone
    assert main(["history", "--subject", subject]) == 0
    after = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(after) == len(lines) + 1
    assert [line["event_type"] for line in after if not line["redacted"]] == ["User.Erased"]


def test_project_rebuild_reports_progress_and_skips_nothing_when_nobody_was_erased(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--users", "3", "--days", "2"]) == 0
    capsys.readouterr()
    assert main(["project", "--rebuild"]) == 0
    out = capsys.readouterr().out
    container = bootstrap(load_settings())
    try:
        head = container.store.recorder.max_notification_id()
    finally:
        container.close()
    for name in ("daily_counts", "live_activity", "user_days"):
        bar = re.search(rf"^{name} rebuild .* {head}/{head} ([\d,]+) stored events/s", out, re.MULTILINE)
        assert bar is not None, out  # the progress bar, finished, with the rate of the whole replay
        assert int(bar.group(1).replace(",", "")) > 0, out
        line = rf"^{name}: (\d+) events read of (\d+) stored, 0 redacted skipped, position (\d+), "
        line += r"(\d+) catalog events, [\d,.]+ stored events/s, [\d,.]+ catalog events/s$"
        summary = re.search(line, out, re.MULTILINE)
        assert summary is not None, out
        assert int(summary.group(2)) == int(summary.group(3)) == head
        assert 0 < int(summary.group(1)) < head  # consent records and sessions started: not what it reads
        assert int(summary.group(4)) >= int(summary.group(1))  # a device's stored event holds one or more


def test_demo_refuses_days_beyond_the_catalogs_30(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "between 1 and 30" in refused(["demo", "--days", "45"], capsys)


def test_a_minted_token_is_accepted_by_the_service(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--sub", "0b9d6f7e-1111-4222-8333-444455556666", "--role", "user"]) == 0
    token = capsys.readouterr().out.strip()
    container = bootstrap(load_settings())
    try:
        principal = container.tokens.verify(token)
    finally:
        container.close()
    assert (principal.subject, principal.role) == ("0b9d6f7e-1111-4222-8333-444455556666", "user")


def test_bad_configuration_is_reported_not_raised(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ADDVALUE_DATABASE_URL", "oracle://nope")
    assert "ADDVALUE_DATABASE_URL" in refused(["token", "--sub", "x"], capsys)


def test_quarantine_list_show_and_replay_from_the_command_line(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    container = bootstrap(load_settings())
    user = uuid.uuid4()
    try:
        bad = event("wave_left", user, {"wave_id": "w", "duration_seconds": -1})
        container.ingestion.ingest([consent(user, analytics=True), bad], sent_at=None, principal=SERVICE)
    finally:
        container.close()
    capsys.readouterr()
    assert main(["quarantine", "list"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    entry = json.loads(line)
    assert entry["reasons"][0]["path"] == "properties.duration_seconds"
    assert main(["quarantine", "show", entry["id"]]) == 0
    assert '"duration_seconds":-1' in capsys.readouterr().out
    assert main(["quarantine", "replay", "--all"]) == 1  # still broken: stays quarantined
    assert "still rejected 1" in capsys.readouterr().err
    assert main(["quarantine", "show", str(uuid.uuid4())]) == 1


def test_a_worker_runs_the_projections_it_is_given_and_stops_on_sigterm(workdir: Path) -> None:
    assert main(["demo", "--users", "2", "--days", "1"]) == 0  # the demo brings every view up to date
    more = bootstrap(load_settings())
    try:
        person = uuid.uuid4()
        report = more.ingestion.ingest([consent(person, analytics=True)], sent_at=None, principal=SERVICE)
        assert report.accepted == 1
        left_at = more.user_days_view.position()
    finally:
        more.close()
    env = {**os.environ, "ADDVALUE_PROJECTION_INTERVAL_SECONDS": "0.1", "PYTHONPATH": str(Path(__file__).parents[2])}
    command = [sys.executable, "-m", "entrypoints.cli", "worker", "--projections", "daily_counts", "--no-jobs"]
    worker = subprocess.Popen(command, env=env, cwd=workdir)
    try:
        container = bootstrap(load_settings())
        try:
            deadline = time.monotonic() + 20
            target = container.store.recorder.max_notification_id()
            while time.monotonic() < deadline and container.daily_counts_view.position() < target:
                time.sleep(0.1)
            assert container.daily_counts_view.position() == target
            assert container.user_days_view.position() == left_at  # left to another worker
            # Background work: it yields the CPU to the serving processes (field 19 of /proc/<pid>/stat).
            niceness = int(Path(f"/proc/{worker.pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
            assert niceness == os.nice(0) + BACKGROUND_NICENESS
        finally:
            container.close()
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0


def test_a_worker_refuses_an_unknown_projection(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "nonesuch" in refused(["worker", "--projections", "daily_counts,nonesuch"], capsys)


def _append_requests(statuses: list[int]) -> None:
    """Access records of requests answered with ``statuses``, written as the served app writes them."""
    container = bootstrap(load_settings())
    try:
        for status in statuses:
            container.access_log.append(
                AccessEntry(
                    at=datetime.now(UTC),
                    principal="p" * 32,
                    role="analyst",
                    method="GET",
                    route="/api/realtime/dau",
                    status=status,
                    outcome="allowed" if status == 200 else "denied",
                )
            )
    finally:
        container.close()


def test_audit_verify_passes_an_intact_log_and_fails_an_edited_one(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _append_requests([200, 403, 200])
    assert main(["audit", "verify"]) == 0
    assert json.loads(capsys.readouterr().out)["records"] == 3

    with sqlite3.connect(workdir / "var" / "addvalue.audit.db") as db:
        db.execute("UPDATE api_access_log SET status = 200 WHERE seq = 2")  # hide a refusal
    assert main(["audit", "verify"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["ok"], report["first_bad_seq"]) == (False, 2)


def test_a_projection_run_by_another_process_is_not_caught_up_here(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--users", "2", "--days", "1"]) == 0
    holder = bootstrap(load_settings())
    try:
        assert holder.leases.hold("user_days")
        assert "another process" in refused(["projections", "catch-up", "user_days"], capsys)
        assert main(["projections", "rebuild", "daily_counts"]) == 0
    finally:
        holder.close()


def test_a_rebuild_of_a_projection_another_process_runs_is_done_by_that_process_and_followed_here(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--users", "2", "--days", "1"]) == 0
    holder = bootstrap(load_settings())
    try:
        assert holder.leases.hold("user_days")
        answer: list[int] = []
        cli = threading.Thread(target=lambda: answer.append(main(["projections", "rebuild", "--all"])))
        cli.start()
        deadline = time.monotonic() + 60
        while cli.is_alive():  # what the scheduler of a worker running user_days only does after each round
            holder.rebuilds.start_pending(lambda name: name == "user_days" and holder.leases.hold(name))
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert answer == [0]
        printed = capsys.readouterr()
        assert "user_days run in another process" in printed.err
        assert "user_days: rebuilt and swapped in" in printed.out
        assert "daily_counts, live_activity: " in printed.out  # nobody ran these: rebuilt here
        assert holder.user_days.position() == holder.store.recorder.max_notification_id()
    finally:
        holder.close()


def test_the_demo_closes_its_past_days_so_the_dashboards_have_data(workdir: Path) -> None:
    assert main(["demo", "--users", "8", "--days", "9"]) == 0
    container = bootstrap(load_settings())
    try:
        yesterday = container.analytics.today() - timedelta(days=1)
        summary = container.analytics.platform_summary(yesterday)
        assert summary.data["value"] > 0
        assert container.analytics.active_people_series(yesterday - timedelta(days=8), yesterday).data_points == 9
        assert [r.job for r in container.jobs.history()].count("close-day") == 9
    finally:
        container.close()


def test_audit_verify_prints_a_checkpoint_and_expect_catches_a_truncation_behind_an_old_head(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audit_db = workdir / "var" / "addvalue.audit.db"
    _append_requests([200] * 7)
    with sqlite3.connect(audit_db) as db:
        old_head = db.execute("SELECT * FROM api_access_head").fetchone()
    _append_requests([200] * 4)
    assert main(["audit", "verify"]) == 0
    out, err = capsys.readouterr()
    checkpoint = json.loads(out.splitlines()[-1])["checkpoint"]  # the report is the last line (logs may precede it)
    assert checkpoint.startswith("11:")
    assert checkpoint in err
    assert main(["audit", "verify", "--expect", checkpoint]) == 0
    capsys.readouterr()

    with sqlite3.connect(audit_db) as db:  # remove the newest records and put the genuine head of record 7 back
        db.execute("DELETE FROM api_access_log WHERE seq > 7")
        db.execute("DELETE FROM api_access_head")
        db.execute("INSERT INTO api_access_head VALUES (" + ",".join("?" * len(old_head)) + ")", old_head)
    assert main(["audit", "verify", "--expect", checkpoint]) == 1
    assert "records were removed" in capsys.readouterr().err
    assert main(["audit", "verify", "--expect", "eleven"]) == 2
    assert "RECORDS:HASH" in capsys.readouterr().err
