"""``addvalue jobs run`` as an operator runs it, in a process of its own, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from entrypoints.settings import Settings
from tests.e2e.test_cli_key_store import addvalue


def test_closing_tomorrow_exits_2_and_says_when_the_day_may_be_closed(settings: Settings, tmp_path: Path) -> None:
    settings = msgspec.structs.replace(settings, archive_dir=tmp_path / "archive")
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    done = addvalue(settings, "jobs", "run", "close-day", "--period", tomorrow.isoformat())
    assert done.returncode == 2, done
    earliest = f"{tomorrow + timedelta(days=1)}T00:00:00Z"  # the reporting zone is UTC unless configured
    assert f"close-day cannot run for {tomorrow} yet" in done.stderr
    assert earliest in done.stderr
    assert done.stdout == ""  # nothing was run, so no report
    history = addvalue(settings, "jobs", "history")
    assert history.returncode == 0, history
    assert history.stdout == ""  # and no run recorded


def test_jobs_status_shows_each_jobs_last_success_and_next_due_time(settings: Settings, tmp_path: Path) -> None:
    settings = msgspec.structs.replace(settings, archive_dir=tmp_path / "archive")
    before = datetime.now(UTC)
    yesterday = (before - timedelta(days=1)).date()
    assert addvalue(settings, "jobs", "run", "close-day", "--period", yesterday.isoformat()).returncode == 0
    done = addvalue(settings, "jobs", "status")
    assert done.returncode == 0, done
    status = {line["job"]: line for line in map(json.loads, done.stdout.splitlines())}
    listed = addvalue(settings, "jobs", "list")
    assert set(status) == {json.loads(line)["name"] for line in listed.stdout.splitlines()}
    close_day = status["close-day"]
    assert close_day["last_success"]["period"] == yesterday.isoformat()
    assert datetime.fromisoformat(close_day["last_success"]["at"]) >= before
    next_due = datetime.fromisoformat(close_day["next_due"])
    assert (next_due.hour, next_due.minute) == (2, 0)  # its schedule: 02:00 UTC
    assert before < next_due <= before + timedelta(days=1)
    assert status["weekly-summary"]["last_success"] is None  # never run
    assert datetime.fromisoformat(status["weekly-summary"]["next_due"]).weekday() == 0  # Mondays


def test_repeated_periods_run_in_the_order_given_a_line_each_until_one_is_refused(
    settings: Settings, tmp_path: Path
) -> None:
    settings = msgspec.structs.replace(settings, archive_dir=tmp_path / "archive")
    today = datetime.now(UTC).date()
    days = [(today - timedelta(days=n)).isoformat() for n in (2, 3, 1)]
    done = addvalue(settings, "jobs", "run", "close-day", *(a for day in days for a in ("--period", day)))
    assert done.returncode == 0, done
    assert [json.loads(line)["period"] for line in done.stdout.splitlines()] == days
    refused = addvalue(
        settings, "jobs", "run", "close-day", "--period", days[0], "--period", (today + timedelta(days=1)).isoformat()
    )
    assert refused.returncode == 2, refused
    assert [json.loads(line)["period"] for line in refused.stdout.splitlines()] == [days[0]]  # run before the refusal
