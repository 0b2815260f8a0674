"""Error tracking against a real HTTP receiver of the Sentry SDK's envelopes.

A forced failure of ``addvalue serve`` (a corrupt geo database: every lookup
raises), a storage outage while it runs, and a CLI command whose database is
unreachable each arrive with their tags; none of a planted user id, token or
address appears in any envelope.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import maxminddb
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from tests.alert_receivers import wait_for
from tests.e2e.served import start_served
from tests.fakes import consent, event
from tests.sentry_receiver import SentryReceiver, sentry_receiver

PLANTED_ADDRESS = "203.0.113.77"  # the client, behind a trusted proxy; its network is 203.0.113.0
_ROOT = Path(__file__).parents[2]


def test_a_request_failing_in_serve_arrives_with_tags_and_stack_and_nothing_personal(tmp_path: Path) -> None:
    person = uuid.uuid4()
    with sentry_receiver() as receiver, _serving(tmp_path, receiver, _corrupt_geo_database(tmp_path)) as served:
        token = served.token("backend-service", "service")
        headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": PLANTED_ADDRESS}
        grant = consent(person, analytics=True, location=True)
        answer = httpx.post(f"{served.base_url}/v1/events", content=b'{"batch":[' + grant + b"]}", headers=headers)
        assert answer.status_code == 500, answer.text  # the lookup of the consent's own event fails

        (report,) = wait_for(lambda: _with_tag(receiver, "log_event", "request.failed"), what="the failure")
        assert report["tags"]["route"] == "/v1/events"
        assert report["tags"]["process"] == "serve"
        assert report["environment"] == "e2e"
        assert report["release"].startswith("addvalue-analytics@")
        (error,) = report["exception"]["values"]
        assert error["type"] == "InvalidDatabaseError"
        frames = [(f["module"], f["function"]) for f in error["stacktrace"]["frames"]]
        assert ("adapters.geo", "lookup") in frames
        assert all("vars" not in f for f in error["stacktrace"]["frames"])  # no local variables
        _assert_nothing_personal(receiver, person, token)
        assert "203.0.113.0" not in receiver.everything().decode()  # the network the lookup failed for


def test_with_a_traces_rate_requests_are_traced_by_handler_and_a_failure_still_arrives_once(tmp_path: Path) -> None:
    person = uuid.uuid4()
    with (
        sentry_receiver() as receiver,
        _serving(tmp_path, receiver, _corrupt_geo_database(tmp_path), traces="1.0") as served,
    ):
        token = served.token("backend-service", "service")
        headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": PLANTED_ADDRESS}
        grant = consent(person, analytics=True, location=True)
        answer = httpx.post(f"{served.base_url}/v1/events", content=b'{"batch":[' + grant + b"]}", headers=headers)
        assert answer.status_code == 500
        assert (
            httpx.get(f"{served.base_url}/api/realtime/dau", headers=served.bearer("a", "analyst")).status_code == 200
        )

        traced = wait_for(lambda: _transactions(receiver, 2), what="two request traces")
        names = sorted(t["transaction"] for t in traced)  # each route's handler (Litestar's "endpoint" style)
        assert any(name.endswith("ingest_events") for name in names), names
        assert all("request" not in t and "user" not in t for t in traced)
        assert len(wait_for(lambda: _with_tag(receiver, "log_event", "request.failed"), what="the failure")) == 1
        assert [e for e in receiver.events() if "log_event" not in (e.get("tags") or {})] == []  # no second copy
        _assert_nothing_personal(receiver, person, token)


def test_a_storage_outage_of_serve_is_reported_once_with_its_route(tmp_path: Path) -> None:
    person = uuid.uuid4()
    with sentry_receiver() as receiver, _serving(tmp_path, receiver) as served:
        token = served.token(str(person), "user")
        headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": PLANTED_ADDRESS}
        body = b'{"batch":[' + consent(person, analytics=True) + b"]}"
        assert httpx.post(f"{served.base_url}/v1/events", content=body, headers=headers).status_code == 200
        with sqlite3.connect(tmp_path / "var" / "addvalue.db") as db:
            db.execute("DROP TABLE stored_events")  # the store broken under the running service
        for _ in range(3):
            batch = b'{"batch":[' + event("user_login", person, {"method": "apple"}) + b"]}"
            assert httpx.post(f"{served.base_url}/v1/events", content=batch, headers=headers).status_code == 503

        (report,) = wait_for(lambda: _with_tag(receiver, "log_event", "storage.unavailable"), what="the outage")
        assert report["tags"]["route"] == "/v1/events"
        assert report["message"] == "storage outage: storage.unavailable" or report["logentry"]["message"].startswith(
            "storage outage"
        )
        assert "stored_events" in str(report["extra"]["error"])
        _assert_nothing_personal(receiver, person, token)
    assert len(_with_tag(receiver, "log_event", "storage.unavailable")) == 1  # at most one in 5 minutes


def test_a_cli_command_whose_database_is_unreachable_reports_the_outage(tmp_path: Path) -> None:
    person = uuid.uuid4()
    with sentry_receiver() as receiver:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ADDVALUE_")} | {
            "PYTHONPATH": str(_ROOT),
            "ADDVALUE_DATABASE_URL": "postgresql://app:planted-Secret-77@127.0.0.1:1/app",
            "ADDVALUE_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "ADDVALUE_JWT_SECRET": "s" * 40,
            "ADDVALUE_SENTRY_DSN": receiver.dsn,
        }
        done = subprocess.run(
            [sys.executable, "-m", "entrypoints.cli", "history", "--user", str(person)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            check=False,
        )
        assert done.returncode == 2, done.stderr.decode()[-2000:]
        (report,) = wait_for(lambda: _with_tag(receiver, "log_event", "storage.unavailable"), what="the outage")
        assert (report["tags"]["process"], report["tags"]["command"]) == ("history", "history")
        assert report["environment"] == "production"
        text = receiver.everything().decode()
        assert "planted-Secret-77" not in text
        assert str(person) not in text
        assert person.hex not in text


def test_an_exception_that_ends_a_process_is_sent_before_it_exits(tmp_path: Path) -> None:
    person = uuid.uuid4()
    with sentry_receiver() as receiver:
        script = (
            "from entrypoints.error_tracking import start_error_tracking\n"
            "from entrypoints.settings_sources import ErrorTrackingSettings\n"
            f"start_error_tracking(ErrorTrackingSettings(dsn={receiver.dsn!r}), process='cli')\n"
            f"raise KeyError('no subject for {person}')\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("ADDVALUE_")} | {"PYTHONPATH": str(_ROOT)}
        done = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, check=False)
        assert done.returncode == 1
        (report,) = wait_for(receiver.events, what="the exception")
        assert report["exception"]["values"][-1]["type"] == "KeyError"
        assert report["tags"]["process"] == "cli"
        assert str(person) not in receiver.everything().decode()


def _serving(tmp_path: Path, receiver: SentryReceiver, geo: Path | None = None, traces: str | None = None) -> Any:
    env = {
        "ADDVALUE_SENTRY_DSN": receiver.dsn,
        "ADDVALUE_SENTRY_ENVIRONMENT": "e2e",
        "ADDVALUE_TRUSTED_PROXIES": "127.0.0.1",
        "ADDVALUE_SERVE_PROJECTIONS": "false",
    }
    if geo is not None:
        env["ADDVALUE_GEOIP_DATABASE"] = str(geo)
    if traces is not None:
        env["ADDVALUE_SENTRY_TRACES_RATE"] = traces
    return start_served("sqlite", tmp_path, env=env)


def _transactions(receiver: SentryReceiver, at_least: int) -> list[dict[str, Any]]:
    found = [payload for header, payload in list(receiver.items) if header.get("type") == "transaction"]
    return found if len(found) >= at_least else []


def _with_tag(receiver: SentryReceiver, name: str, value: str) -> list[dict[str, Any]]:
    return [e for e in receiver.events() if (e.get("tags") or {}).get(name) == value]


def _assert_nothing_personal(receiver: SentryReceiver, person: uuid.UUID, token: str) -> None:
    text = receiver.everything().decode()
    assert receiver.events()
    for planted in (str(person), person.hex, token, token.split(".")[2], PLANTED_ADDRESS):
        assert planted not in text, planted


def _corrupt_geo_database(folder: Path) -> Path:
    """A city database whose metadata opens and whose data section is garbage: every lookup raises."""
    path = folder / "city.mmdb"
    writer = MMDBWriter(ip_version=4, database_type="GeoLite2-City")
    writer.insert_network(IPSet(["203.0.113.0/24"]), {"country": {"iso_code": "DE"}})
    writer.to_db_file(str(path))
    with maxminddb.open_database(str(path)) as reader:
        meta = reader.metadata()
    data = bytearray(path.read_bytes())
    start = meta.node_count * meta.record_size * 2 // 8 + 16  # the search tree, then 16 zero bytes
    end = data.rfind(b"\xab\xcd\xefMaxMind.com")
    data[start:end] = b"\xff" * (end - start)
    path.write_bytes(bytes(data))
    return path
