"""The outbox followed by the real processes: ``addvalue serve`` and ``addvalue worker``.

The app's database is a second PostgreSQL database with the outbox and the
example triggers installed as ``addvalue outbox sql`` prints them; the
service's store is SQLite or PostgreSQL.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.sources.outbox_postgres import PostgresOutbox, install
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import Settings
from tests.alert_receivers import wait_for
from tests.app_database import AppDatabase, app_db, service_environment
from tests.e2e.served import start_served
from tests.fakes import consent, event

__all__ = ["app_db"]  # the fixture, used by name

pytestmark = pytest.mark.postgres


def test_serve_relays_a_sign_up_its_trigger_emitted_and_shows_the_outbox_in_metrics_and_status(
    backend: str, tmp_path: Path, app_db: AppDatabase
) -> None:
    db = app_db.with_triggers()
    person = uuid.uuid4()
    outbox = PostgresOutbox(db.url)
    with start_served(backend, tmp_path, env={"ADDVALUE_OUTBOX_URLS": db.url}) as served:
        db.emit(consent(person, analytics=True))
        db.execute("INSERT INTO auth.users (id, raw_app_meta_data) VALUES (%s, %s)", (person, '{"provider": "google"}'))
        wait_for(lambda: outbox.status().delivered == 2, seconds=60, what="both rows delivered")

        history = httpx.get(
            f"{served.base_url}/api/audit/users/{person}/history", headers=served.bearer("an-auditor", "auditor")
        )
        assert history.status_code == 200, history.text
        signups = [e for e in _tracked(history.json()) if e.get("event_name") == "user_signup"]
        assert [e["properties"] for e in signups] == [{"signup_method": "google"}]

        name = outbox.name
        rows = wait_for(lambda: _outbox_rows(served.base_url, name), what="the outbox in /metrics")
        assert rows == {"pending": 0.0, "delivered": 2.0, "rejected": 0.0, "oldest": 0.0}

        status = subprocess.run(
            [sys.executable, "-m", "entrypoints.cli", "outbox", "status"],
            env=served.env,
            cwd=tmp_path,
            capture_output=True,
            check=True,
        )
        assert json.loads(status.stdout) == {
            "outbox": name,
            "pending": 0,
            "delivered": 2,
            "rejected": 0,
            "oldest_pending_seconds": None,
        }


def test_a_worker_started_after_1000_rows_were_emitted_stores_each_once(
    settings: Settings, tmp_path: Path, app_db: AppDatabase
) -> None:
    install(app_db.url)
    person = uuid.uuid4()
    app_db.emit(consent(person, analytics=True))
    for start in range(0, 1000, 200):
        app_db.emit(*(event("wave_interaction", person, _interaction(i)) for i in range(start, start + 200)))
    outbox = PostgresOutbox(app_db.url)
    assert outbox.status().pending == 1001

    with bootstrap(settings):  # the store exists before the worker starts, as after `addvalue serve`
        pass
    env = service_environment(settings, tmp_path) | {"ADDVALUE_OUTBOX_URLS": app_db.url}
    worker = subprocess.Popen(
        [sys.executable, "-m", "entrypoints.cli", "worker"], env=env, cwd=tmp_path, stderr=subprocess.PIPE
    )
    try:
        wait_for(lambda: outbox.status().delivered == 1001, seconds=120, what="every row delivered")
    finally:
        worker.send_signal(signal.SIGTERM)
        _, errors = worker.communicate(timeout=30)
    assert worker.returncode == 0, errors.decode()[-3000:]

    with bootstrap(settings) as container:
        container.daily_counts.catch_up()
        totals: Counter[str] = Counter()
        for (_, name), n in container.daily_counts_view.counts().items():
            totals[name] += n
    assert totals == {"user_consent_update": 1, "wave_interaction": 1000}
    assert outbox.status().pending == 0


def _tracked(history: dict[str, object]) -> list[dict[str, object]]:
    """The catalog events inside the history's recorded events, wherever they are nested."""
    found: list[dict[str, object]] = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            if "event_name" in value and "properties" in value:
                found.append(value)
            for inner in value.values():
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(history)
    return found


def _outbox_rows(base_url: str, name: str) -> dict[str, float] | None:
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("outbox") != name:
                continue
            if sample.name == "addvalue_outbox_rows":
                found[sample.labels["state"]] = sample.value
            elif sample.name == "addvalue_outbox_oldest_pending_seconds":
                found["oldest"] = sample.value
    return found if found.get("delivered") == 2.0 else None


def _interaction(i: int) -> dict[str, object]:
    return {"wave_id": f"wave-{i % 7}", "kind": "reaction"}
