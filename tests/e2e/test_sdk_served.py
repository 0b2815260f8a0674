"""The built TypeScript SDK (sdk/dist) in Node against the real ``addvalue serve`` on SQLite.

The app is ``tests/e2e/sdk_driver.mjs`` with a file-backed storage, so a second run of it is the same
app after a restart. What the service stored is read back through the auditor's history API.
"""

from __future__ import annotations

import fcntl
import json
import select
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.served import Served, free_port, start_served

ROOT = Path(__file__).parents[2]
SDK = ROOT / "sdk"
DRIVER = Path(__file__).with_name("sdk_driver.mjs")
CONTEXT = {"device_type": "mobile", "platform": "ios", "app_version": "2.4.1", "locale": "en-US", "timezone": "UTC"}
GRANTED = {"analytics": True, "personalization": False, "marketing": False, "location": False}
WITHDRAWN = {"analytics": False, "personalization": False, "marketing": False, "location": False}
# Short retry steps: a test waits for the service, not for a phone's patience.
FAST_RETRIES = {"retryBaseMs": 100, "retryMaxMs": 1000, "flushIntervalMs": 0}


@pytest.fixture(scope="session")
def node() -> str:
    """Node with the SDK built: ``npm ci`` when node_modules is missing, then ``npm run build``, once a session."""
    found = shutil.which("node")
    if found is None or shutil.which("npm") is None:
        pytest.fail("node and npm (Node 20 or later) are not on PATH: the SDK's end-to-end tests need them")
    with (SDK / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time, whichever test worker comes first
        if not (SDK / "node_modules").is_dir():
            _npm("ci")
        _npm("run", "build")
    assert (SDK / "dist" / "index.js").is_file()
    return found


def _npm(*args: str) -> None:
    run = subprocess.run(["npm", *args], cwd=SDK, capture_output=True, text=True, check=False, timeout=600)
    if run.returncode != 0:
        pytest.fail(f"npm {' '.join(args)} in sdk/ failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")


def config(endpoint: str, token: str, storage: Path, steps: list[list[Any]], **options: Any) -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "token": token,
        "storageDir": str(storage),
        "context": CONTEXT,
        "options": FAST_RETRIES | options.pop("options", {}),
        "steps": steps,
        **options,
    }


def drive(node: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """Run the app to its end; its last line says what it saw."""
    run = subprocess.run([node, str(DRIVER), json.dumps(cfg)], capture_output=True, text=True, timeout=180, check=False)
    assert run.returncode == 0, run.stderr[-4000:]
    result: dict[str, Any] = json.loads(run.stdout.splitlines()[-1])
    return result


@pytest.fixture
def driver_processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def line_of(process: subprocess.Popen[str], seconds: float = 120) -> dict[str, Any]:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], seconds)
    assert ready, f"the driver said nothing within {seconds} s"
    line = process.stdout.readline()
    assert line, f"the driver ended early: {process.stderr.read() if process.stderr else ''}"
    result: dict[str, Any] = json.loads(line)
    return result


def stored(service: Served, user: str) -> list[dict[str, Any]]:
    """Every catalog event the service stored for ``user``, from their history (decrypted)."""
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page = httpx.get(
            f"{service.base_url}/api/audit/users/{user}/history",
            params={"after": after, "limit": 1000},
            headers=service.bearer("auditor-1", "auditor"),
            timeout=30,
        )
        assert page.status_code == 200, page.text
        entries = page.json()["data"]["events"]
        if not entries:
            return events
        tracked = (e for e in entries if e["event_type"] == "Session.EventsTracked")
        events += [t["event"] for entry in tracked for t in entry["data"]["events"]]
        after = entries[-1]["position"]


def service_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "service"
    folder.mkdir(exist_ok=True)
    return folder


def liked(events: list[dict[str, Any]]) -> list[str]:
    return [e["event_id"] for e in events if e["event_name"] == "post_liked"]


def test_events_tracked_offline_survive_an_app_restart_and_are_stored_exactly_once(node: str, tmp_path: Path) -> None:
    port, user, app = free_port(), str(uuid.uuid4()), tmp_path / "app"
    endpoint = f"http://127.0.0.1:{port}"
    offline = drive(
        node,
        config(
            endpoint,
            "no-service-yet",
            app,
            [["identify", user], ["consent", GRANTED], ["track", "post_liked", {"post_id": "p-1"}, 200], ["flush"]],
            options={"flushAt": 20, "maxAttemptsPerFlush": 2},
        ),
    )
    assert offline["queued"] == 200
    assert offline["results"][0]["pending"] == 201  # the consent update and the 200, kept in the file
    assert offline["statuses"]["network"] >= 2  # it tried, and the service was not there

    with start_served("sqlite", service_dir(tmp_path), port=port) as service:
        after_restart = drive(node, config(endpoint, service.token(user, "user"), app, [["flush"]]))
        [result] = after_restart["results"]
        assert result == {
            "accepted": 201,
            "duplicates": 0,
            "notCollected": 0,
            "rejected": 0,
            "refused": 0,
            "pending": 0,
        }
        ids = liked(stored(service, user))
    assert len(ids) == len(set(ids)) == 200
    assert after_restart["errors"] == []


def test_a_service_killed_mid_flush_stores_every_event_once_and_counts_the_resend_as_duplicates(
    node: str, tmp_path: Path, driver_processes: list[subprocess.Popen[str]]
) -> None:
    port, user, workdir = free_port(), str(uuid.uuid4()), service_dir(tmp_path)
    with start_served("sqlite", workdir, port=port) as first:
        secrets = {key: first.env[key] for key in ("ADDVALUE_MASTER_KEY", "ADDVALUE_JWT_SECRET")}
        cfg = config(
            first.base_url,
            first.token(user, "user"),
            tmp_path / "app",
            [["identify", user], ["consent", GRANTED], ["track", "post_liked", {"post_id": "p-1"}, 300], ["flush"]],
            options={"maxBatchSize": 100, "flushAt": 10_000, "maxAttemptsPerFlush": 200},
            loseAnswerOf=2,  # the second batch is stored, and its answer never reaches the app
        )
        app = subprocess.Popen(
            [node, str(DRIVER), json.dumps(cfg)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        driver_processes.append(app)
        assert line_of(app) == {"answered": 2, "status": 200}
        first.kill()
    assert app.stdin is not None
    app.stdin.write("go\n")
    app.stdin.flush()
    time.sleep(0.5)  # not a synchronisation: lets the app meet the dead service first, as it would
    with start_served("sqlite", workdir, port=port, env=secrets) as second:
        report = line_of(app, seconds=180)
        ids = liked(stored(second, user))
    assert report["done"]
    [result] = report["results"]
    assert (result["accepted"], result["duplicates"], result["pending"]) == (201, 100, 0)
    assert report["statuses"]["network"] >= 1
    assert len(ids) == len(set(ids)) == 300


def test_a_withdrawal_with_events_queued_stores_none_of_them(node: str, tmp_path: Path) -> None:
    user = str(uuid.uuid4())
    with start_served("sqlite", service_dir(tmp_path)) as service:
        steps = [
            ["identify", user],
            ["consent", GRANTED],
            ["flush"],
            ["track", "post_liked", {"post_id": "p-1"}, 50],
            ["consent", WITHDRAWN],
            ["flush"],
        ]
        queued = {"flushAt": 10_000}  # held until the withdrawal, as by an app offline for a while
        report = drive(
            node, config(service.base_url, service.token(user, "user"), tmp_path / "app", steps, options=queued)
        )
        events = stored(service, user)
    assert report["queued"] == 50, report
    granted, withdrawn = report["results"]
    assert granted["accepted"] == withdrawn["accepted"] == 1, report
    assert granted["notCollected"] == withdrawn["notCollected"] == 0  # the queued events were never sent
    assert liked(events) == []


def test_a_rate_limited_app_waits_as_told_and_delivers_everything(node: str, tmp_path: Path) -> None:
    user = str(uuid.uuid4())
    # 2,500 at once (the lowest burst allowed), then 100 a second: the third batch of 1,000 lacks about 500,
    # which would take 5 s to refill, so it is refused with Retry-After however slow the machine is.
    with start_served("sqlite", service_dir(tmp_path), env={"ADDVALUE_RATE_LIMIT_USER": "100/2500"}) as service:
        steps = [["identify", user], ["consent", GRANTED], ["track", "post_liked", {"post_id": "p-1"}, 3000], ["flush"]]
        cfg = config(
            service.base_url,
            service.token(user, "user"),
            tmp_path / "app",
            steps,
            options={"maxBatchSize": 1000, "flushAt": 100_000, "maxAttemptsPerFlush": 20},
        )
        report = drive(node, cfg)
        ids = liked(stored(service, user))
    assert report["statuses"].get("429", 0) >= 1, report["statuses"]
    told = [w for w in report["waits"] if w["status"] == 429]
    assert told
    assert all(w["retryInMs"] >= 1000 and w["retryInMs"] % 1000 == 0 for w in told)  # Retry-After, in whole s
    [result] = report["results"]
    assert (result["accepted"], result["pending"]) == (3001, 0)
    assert len(ids) == len(set(ids)) == 3000


def test_a_malformed_property_forced_past_the_types_is_reported_and_the_rest_delivered(
    node: str, tmp_path: Path
) -> None:
    user = str(uuid.uuid4())
    with start_served("sqlite", service_dir(tmp_path)) as service:
        steps = [
            ["identify", user],
            ["consent", GRANTED],
            ["track", "post_liked", {"post_id": "p-1"}, 3],
            ["track", "post_liked", {"post_id": 42}],  # what `as any` lets through
            ["track", "post_liked", {"post_id": "p-2"}, 2],
            ["flush"],
        ]
        report = drive(node, config(service.base_url, service.token(user, "user"), tmp_path / "app", steps))
        ids = liked(stored(service, user))
    [result] = report["results"]
    assert (result["accepted"], result["rejected"], result["pending"]) == (6, 1, 0)
    [error] = report["errors"]
    assert error["kind"] == "rejected"
    assert error["eventName"] == "post_liked"
    assert error["errors"] == [
        {"path": "properties.post_id", "message": "must be a string of 1 to 64 characters, got int"}
    ]
    assert len(ids) == 5
    assert error["eventId"] not in ids
