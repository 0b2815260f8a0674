"""Days missed while the service was stopped are closed once ``addvalue serve`` starts (issue 14).

SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.e2e.served import start_served


def test_days_owed_before_start_are_closed_after_serve_starts(backend: str, tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    # The service closed the day four days ago, then stopped: the next two days' 02:00s passed (whatever the hour).
    closed = (today - timedelta(days=4)).isoformat()
    missed = [(today - timedelta(days=n)).isoformat() for n in (3, 2)]
    prepare = (("jobs", "run", "close-day", "--period", closed),)

    with start_served(backend, tmp_path, prepare=prepare) as service:
        headers = service.bearer("analyst-1", "analyst")
        answers: dict[str, int] = {}
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=service.base_url, headers=headers, timeout=10) as client:
            while time.monotonic() < deadline:
                for day in missed:
                    answers[day] = client.get("/api/metrics/platform-summary", params={"date": day}).status_code
                if all(code == 200 for code in answers.values()):
                    break
                time.sleep(0.2)
        assert answers == dict.fromkeys(missed, 200), service.output()
        status = subprocess.run(
            [sys.executable, "-m", "entrypoints.cli", "jobs", "status"],
            env=service.env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )

    close_day = next(line for line in map(json.loads, status.stdout.splitlines()) if line["job"] == "close-day")
    assert close_day["owed"] == {"count": 0, "oldest": None}
    assert close_day["last_success"]["period"] >= missed[-1]  # yesterday too, once past 02:00
