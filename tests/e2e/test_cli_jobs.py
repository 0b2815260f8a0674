"""``addvalue jobs run`` as an operator runs it, in a process of its own, on SQLite and PostgreSQL."""

from __future__ import annotations

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
