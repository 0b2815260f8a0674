"""Exports from the real served process (``addvalue serve``) and from ``addvalue export``: the same rows as the API."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from application.reporting.exports import DATASETS
from tests.e2e.export_support import read_csv, read_duckdb, read_parquet
from tests.e2e.served import start_served


def test_a_served_export_and_the_command_line_export_equal_the_api_answers(backend: str, tmp_path: Path) -> None:
    demo = ("demo", "--users", "12", "--days", "10")
    with start_served(backend, tmp_path, prepare=(demo,)) as served, httpx.Client(base_url=served.base_url) as client:
        analyst = served.bearer("analyst-1", "analyst")
        today = datetime.now(UTC).date()
        first, last = today - timedelta(days=14), today
        span = {"from": first.isoformat(), "to": last.isoformat()}
        expected = []
        for k in range(15):
            day = (first + timedelta(days=k)).isoformat()
            answer = client.get("/api/metrics/platform-summary", params={"date": day}, headers=analyst)
            if answer.status_code == 200:
                totals = answer.json()["data"]["breakdown"]
                expected.append(
                    {"date": day} | {c.name: totals.get(c.name, 0) for c in DATASETS["platform-days"].columns[1:]}
                )
        assert len(expected) >= 9  # the demo's closed days (the first may hold no one yet)

        csv_file = client.get("/api/exports/platform-days", params=span | {"format": "csv"}, headers=analyst)
        assert csv_file.status_code == 200, csv_file.text
        assert csv_file.headers["content-type"].startswith("text/csv")
        assert read_csv(csv_file.content, DATASETS["platform-days"]) == expected
        parquet = client.get("/api/exports/platform-days", params=span | {"format": "parquet"}, headers=analyst)
        assert read_parquet(parquet.content) == expected

        output = tmp_path / "days.parquet"
        command = [sys.executable, "-m", "entrypoints.cli", "export", "platform-days", "--from", span["from"]]
        command += ["--to", span["to"], "--format", "parquet", "--output", str(output)]
        done = subprocess.run(command, env=served.env, cwd=served.workdir, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert f"{len(expected)} rows of platform-days" in done.stdout
        assert read_duckdb(str(output)) == expected

        refused = subprocess.run(
            [*command[:3], "export", "people", "--from", span["from"], "--to", span["to"], "--output", str(output)],
            env=served.env,
            cwd=served.workdir,
            capture_output=True,
            text=True,
            check=False,
        )
        assert refused.returncode == 2
        assert "no dataset is called 'people'" in refused.stderr
