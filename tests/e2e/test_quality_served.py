"""/api/quality and ``addvalue quality report`` against the real service: the same record, for analysts only."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import msgspec

from tests.e2e.served import start_served

YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()


def test_the_api_and_the_cli_show_the_recorded_quality_of_a_day(backend: str, tmp_path: Path) -> None:
    prepare = (("jobs", "run", "data-quality", "--date", YESTERDAY),)
    with start_served(backend, tmp_path, prepare=prepare) as served:
        analyst = served.bearer("ana", "analyst")
        day = httpx.get(f"{served.base_url}/api/quality", params={"date": YESTERDAY}, headers=analyst)
        assert day.status_code == 200, day.text
        body = day.json()
        assert body["status"] == "success"
        assert body["metadata"]["data_points"] == 12
        assert body["data"]["period"] == YESTERDAY
        assert set(body["data"]["scores"]) == {"completeness", "accuracy", "timeliness", "consistency"}

        series = httpx.get(
            f"{served.base_url}/api/quality/series", params={"from": YESTERDAY, "to": YESTERDAY}, headers=analyst
        )
        assert [d["period"] for d in series.json()["data"]["days"]] == [YESTERDAY]
        unchecked = httpx.get(f"{served.base_url}/api/quality", params={"date": "2026-01-01"}, headers=analyst)
        assert unchecked.status_code == 404
        as_user = httpx.get(f"{served.base_url}/api/quality", headers=served.bearer("u", "user"))
        assert as_user.status_code == 403

        printed = subprocess.run(
            [sys.executable, "-m", "entrypoints.cli", "quality", "report", "--date", YESTERDAY],
            env=served.env,
            cwd=tmp_path,
            capture_output=True,
            check=True,
        )
        assert msgspec.json.decode(printed.stdout) == body["data"]
