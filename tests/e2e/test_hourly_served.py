"""GET /api/metrics/hourly and /api/dashboard/anomalies from the real served process, after their jobs ran."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.e2e.served import start_served


def test_the_served_hourly_reports_are_those_the_job_recorded(backend: str, tmp_path: Path) -> None:
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    hours = [f"{yesterday.isoformat()}T{h:02d}" for h in range(24)]
    prepare = (
        ("demo", "--users", "20", "--days", "3"),
        ("jobs", "run", "hourly-activity", *(arg for hour in hours for arg in ("--period", hour))),  # one process
        ("jobs", "run", "metric-anomalies", "--period", yesterday.isoformat()),
    )
    with start_served(backend, tmp_path, prepare=prepare) as served, httpx.Client(base_url=served.base_url) as client:
        analyst = served.bearer("analyst-1", "analyst")
        answer = client.get("/api/metrics/hourly", params={"date": yesterday.isoformat()}, headers=analyst)
        assert answer.status_code == 200, answer.text
        series = answer.json()["data"]["series"]
        assert [point["hour"] for point in series] == hours  # every hour's report, in order
        assert sum(point["microact_created"] for point in series) > 0  # the demo's people created micro-acts
        exported = client.get(
            "/api/exports/hourly-activity",
            params={"from": yesterday.isoformat(), "to": yesterday.isoformat(), "format": "json"},
            headers=analyst,
        ).json()["rows"]
        assert [row["microact_created"] for row in exported] == [point["microact_created"] for point in series]
        anomalies = client.get("/api/dashboard/anomalies", headers=analyst)
        assert anomalies.status_code == 200, anomalies.text
        assert anomalies.json()["data"]["series"] == []  # three days are too few for a band
        assert client.get("/api/metrics/hourly", headers=served.bearer("u", "user")).status_code == 403
