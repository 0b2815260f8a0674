"""Rebuilding the read models while ``addvalue serve`` runs and takes events: by the CLI, and by the admin API.

The oracle: after the service is stopped, ``addvalue projections rebuild --all`` (no lease holder then, so the
CLI replays the whole log itself). Every read model of the running service must equal it, row for row.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx
import psycopg
import pytest

from adapters.read_models.live_activity import SqliteLiveActivity
from adapters.read_models.user_days import SqliteUserDays
from adapters.read_models.views import SqliteDailyCounts
from tests.conftest import POSTGRES_URL
from tests.e2e.served import Served, start_served
from tests.fakes import consent, event, feedback

VIEWS: Final = (SqliteDailyCounts, SqliteLiveActivity, SqliteUserDays)
QUICK: Final = {"ADDVALUE_PROJECTION_INTERVAL_SECONDS": "0.3"}  # a requested rebuild is picked up this soon


def _select(service: Served, view: type[Any], what: str, table: str) -> list[tuple[Any, ...]]:
    """``SELECT what FROM table`` of ``view``, read from the service's database as it is now."""
    schema = service.env.get("ADDVALUE_DATABASE_SCHEMA")
    if schema is None:
        with sqlite3.connect(service.workdir / "var" / f"addvalue.{view.SQLITE_FILE}.db", timeout=30) as conn:
            return conn.execute(f"SELECT {what} FROM {table}").fetchall()
    assert POSTGRES_URL is not None
    name = f"{view.VIEW_NAME}_tracking" if table == "tracking" else table
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        return [tuple(r) for r in conn.execute(f"SELECT {what} FROM {schema}.{name}".encode()).fetchall()]


def read_models(service: Served) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read model, and each one's position, sorted."""
    models: dict[str, list[tuple[Any, ...]]] = {}
    for view in VIEWS:
        for table in view.PROJECTION_TABLES:
            models[table] = sorted(_select(service, view, "*", table), key=repr)
        models[f"{view.VIEW_NAME} position"] = _select(service, view, "max(notification_id)", "tracking")
    return models


def counted(service: Served) -> int:
    """All events the daily counts hold: a partial model (cleared, half replayed) would show as a drop."""
    return int(_select(service, SqliteDailyCounts, "coalesce(sum(n), 0)", "daily_event_counts")[0][0])


def a_batch(people: int = 5) -> bytes:
    """New people: each consents, likes a post and gives feedback, a little in the past."""
    raw = []
    for _ in range(people):
        person, at = uuid.uuid4(), datetime.now(UTC) - timedelta(seconds=30)
        raw += [
            consent(person, analytics=True, at=at),
            event("post_liked", person, {"post_id": "p"}, at=at),
            feedback(person, "fine", at=at),
        ]
    return b'{"batch":[' + b",".join(raw) + b"]}"


@contextmanager
def ingesting(service: Served) -> Iterator[list[int]]:
    """Real HTTP requests, one after the other, until the block ends; yields the statuses answered so far."""
    statuses: list[int] = []
    stop = threading.Event()
    headers = {**service.bearer("backend", "service"), "Content-Type": "application/json"}

    def run() -> None:
        with httpx.Client(base_url=service.base_url, timeout=30) as client:
            while not stop.is_set():
                try:
                    statuses.append(client.post("/v1/events", content=a_batch(), headers=headers).status_code)
                except httpx.HTTPError:
                    statuses.append(0)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield statuses
    finally:
        stop.set()
        thread.join(60)


@contextmanager
def watching(service: Served) -> Iterator[list[int]]:
    """The daily counts' total, read again and again while the block runs."""
    seen: list[int] = []
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            seen.append(counted(service))
            time.sleep(0.02)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(30)


def addvalue(service: Served, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", *args],
        env=service.env,
        cwd=service.workdir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def caught_up(service: Served, within: float = 60) -> list[dict[str, Any]]:
    """GET /api/admin/projections until every projection has no lag and no rebuild pending; its list."""
    admin = service.bearer("ops", "admin")
    deadline = time.monotonic() + within
    while True:
        answer = httpx.get(service.base_url + "/api/admin/projections", headers=admin, timeout=10)
        assert answer.status_code == 200, answer.text
        states = answer.json()["data"]["projections"]
        if all(s["lag_events"] == 0 and s["rebuild"] is None for s in states):
            return list(states)
        assert time.monotonic() < deadline, states
        time.sleep(0.2)


def test_rebuilding_every_projection_while_serving_and_ingesting_equals_a_rebuild_with_the_service_stopped(
    backend: str, tmp_path: Path
) -> None:
    prepare = (("demo", "--users", "60", "--days", "7"),)
    with start_served(backend, tmp_path, env=QUICK, prepare=prepare) as service:
        caught_up(service)
        with ingesting(service) as statuses, watching(service) as totals:
            while len(statuses) < 5:
                time.sleep(0.05)
            before = len(statuses)
            rebuilt = addvalue(service, "projections", "rebuild", "--all")
            during = len(statuses) - before
            time.sleep(1)  # and on after the swap
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        assert "events/s" in rebuilt.stdout, rebuilt.stdout
        assert "swapped in" in rebuilt.stdout, rebuilt.stdout
        assert during > 0, "no ingest request was answered while the rebuild ran"
        assert set(statuses) == {200}, f"ingest answers: {sorted(set(statuses))}"
        assert totals == sorted(totals), "the daily counts went down: a reader saw a partial model"
        caught_up(service)
        served_models = read_models(service)
        service.stop()
        oracle = addvalue(service, "projections", "rebuild", "--all")
        assert oracle.returncode == 0, oracle.stdout + oracle.stderr
        assert "swapped in" not in oracle.stdout  # no service: the CLI replayed the log itself
        assert read_models(service) == served_models
        assert served_models["daily_event_counts"], "the read models are empty: nothing was compared"


@pytest.fixture(params=[1, 2], ids=["one worker", "two workers"])
def quick_served(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Served]:
    """With two workers, a request may reach either; the one holding the lease rebuilds."""
    prepare = (("demo", "--users", "10", "--days", "2"),)
    with start_served(backend, tmp_path, workers=request.param, env=QUICK, prepare=prepare) as service:
        yield service


def test_an_admin_rebuilds_a_projection_through_the_served_api(quick_served: Served) -> None:
    service, admin = quick_served, quick_served.bearer("ops", "admin")
    with httpx.Client(base_url=service.base_url, timeout=10) as client:
        asked = client.post("/api/admin/projections/user_days/rebuild", headers=admin)
        assert asked.status_code == 202, asked.text
        job_id = asked.json()["data"]["job_id"]
        assert asked.headers["location"] == f"/api/admin/projections/rebuilds/{job_id}"
        deadline = time.monotonic() + 60
        while (job := client.get(asked.headers["location"], headers=admin).json()["data"])["status"] != "swapped":
            assert job["status"] in ("pending", "running"), job
            assert time.monotonic() < deadline, job
            time.sleep(0.1)
        [entry] = job["projections"]
        assert entry["name"] == "user_days"
        assert entry["position"] > 0
        assert entry["finished_at"]

        everything = client.post("/api/admin/projections/rebuild-all", headers=admin)
        assert everything.status_code == 202
        assert sorted(everything.json()["data"]["projections"]) == ["daily_counts", "live_activity", "user_days"]
        states = caught_up(service)
        assert {s["name"] for s in states} == {"daily_counts", "live_activity", "user_days"}
        assert all(s["position"] > 0 and s["lag_seconds"] == 0 for s in states)

        unknown = client.post("/api/admin/projections/nothing/rebuild", headers=admin)
        assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
        no_job = client.get(f"/api/admin/projections/rebuilds/{uuid.uuid4().hex}", headers=admin)
        assert no_job.status_code == 404
        analyst = client.post("/api/admin/projections/user_days/rebuild", headers=service.bearer("a", "analyst"))
        assert (analyst.status_code, analyst.json()["error"]["code"]) == (403, "forbidden")

        spec = client.get("/schema/openapi.json").json()["paths"]
        assert {"202", "403", "404"} <= set(spec["/api/admin/projections/{name}/rebuild"]["post"]["responses"])
        assert {"202", "403"} <= set(spec["/api/admin/projections/rebuild-all"]["post"]["responses"])
