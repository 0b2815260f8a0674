"""``addvalue reports`` as an operator runs it, in a process of its own, on SQLite and PostgreSQL: what it
lists, and what it refuses (exit status 2, saying why)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from domain.periods import previous_period
from entrypoints.settings import Settings
from tests.e2e.test_cli_key_store import addvalue


def test_reports_list_names_each_report_with_its_schedule_zone_and_recipients(
    settings: Settings, tmp_path: Path
) -> None:
    settings = msgspec.structs.replace(settings, archive_dir=tmp_path / "archive")
    listed = addvalue(settings, "reports", "list", env={"ADDVALUE_REPORT_RECIPIENTS": "a@example.org, b@example.org"})
    assert listed.returncode == 0, listed
    shown = {line["name"]: line for line in map(json.loads, listed.stdout.splitlines())}
    assert set(shown) == {"weekly-executive", "monthly-executive"}
    weekly = shown["weekly-executive"]
    assert (weekly["schedule"], weekly["time_zone"], weekly["period"]) == ("0 9 * * 1", "UTC", "week")
    assert weekly["recipients"] == ["a@example.org", "b@example.org"]
    assert weekly["generated"] == []


def test_reports_not_generated_or_without_a_mail_server_are_refused(settings: Settings, tmp_path: Path) -> None:
    settings = msgspec.structs.replace(settings, archive_dir=tmp_path / "archive")
    week = previous_period("week", datetime.now(UTC))
    shown = addvalue(settings, "reports", "show", "weekly-executive", "--period", week, "--output", "x.pdf")
    assert shown.returncode == 2, shown
    assert f"the weekly-executive report of {week} has not been generated" in shown.stderr
    ran = addvalue(settings, "reports", "run", "weekly-executive", "--period", week)
    assert ran.returncode == 0, ran
    sent = addvalue(settings, "reports", "send", "weekly-executive", "--period", week, "--to", "a@example.org")
    assert sent.returncode == 2, sent
    assert "ADDVALUE_SMTP_URL" in sent.stderr
    next_month = (datetime.now(UTC).date().replace(day=1) + timedelta(days=32)).strftime("%Y-%m")
    early = addvalue(settings, "reports", "run", "monthly-executive", "--period", next_month)
    assert early.returncode == 2, early
    assert "the earliest it may run" in early.stderr
