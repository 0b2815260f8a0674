"""``addvalue keys rotate-master`` and ``rotate-root`` as an operator runs them: separate processes, between runs
of ``addvalue serve``, on a store made before issue 13 (its root was its first master key)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import psycopg

from adapters.database_url import parse_database_url
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import Settings
from tests.conftest import POSTGRES_URL
from tests.e2e.served import Served, start_served
from tests.integration.test_key_rotation import ingest_people, make_legacy


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def cli(env: dict[str, str], workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "entrypoints.cli", *args]
    return subprocess.run(command, check=False, env=env, cwd=workdir, capture_output=True, text=True, timeout=120)


def access_log(service: Served) -> list[dict[str, object]]:
    answer = httpx.get(
        f"{service.base_url}/api/audit/access-log", headers=service.bearer("auditor-1", "auditor"), timeout=10
    )
    assert answer.status_code == 200, answer.text
    records: list[dict[str, object]] = answer.json()["data"]["records"]
    return records


def test_rotate_master_moves_an_old_store_off_its_master_key_root_and_rotate_root_re_chains_again(
    backend: str, tmp_path: Path
) -> None:
    master, new_master = os.urandom(32), os.urandom(32)
    secret = "e2e-secret-" + os.urandom(24).hex()
    schema = f"e_{uuid.uuid4().hex[:12]}"
    url = f"sqlite:///{tmp_path}/var/addvalue.db" if backend == "sqlite" else str(POSTGRES_URL)
    ours = {"ADDVALUE_DATABASE_URL": url, "ADDVALUE_MASTER_KEY": b64(master), "ADDVALUE_JWT_SECRET": secret}
    if backend == "postgres":
        ours["ADDVALUE_DATABASE_SCHEMA"] = schema
    settings = Settings(database=parse_database_url(url, schema=schema), master_key=master, jwt_secret=secret)
    (tmp_path / "var").mkdir(mode=0o700)
    try:
        make_legacy(settings)
        with bootstrap(settings) as container:
            assert container.keys.root_is_legacy
            users = ingest_people(container, 3)
            assert container.erasure.erase(users[0], requested_by="e2e").key_destroyed
        with start_served(backend, tmp_path, env=ours) as first:
            access_log(first)
            access_log(first)  # two records, the second request's written after its answer is read
            env = {k: v for k, v in first.env.items() if k != "ADDVALUE_PORT"}

        rotated = cli(env | {"ADDVALUE_NEW_MASTER_KEY": b64(new_master)}, tmp_path, "keys", "rotate-master")
        assert rotated.returncode == 0, rotated.stderr
        assert "rotating it first" in rotated.stderr
        root, rewrapped = (json.loads(line) for line in rotated.stdout.splitlines())
        assert (root["roots"], root["records_verified"], root["anchor_seq"]) == (2, 2, 3)
        assert (root["lookups_rederived"], root["erasures_rederived"], rewrapped["keys_rewrapped"]) == (2, 1, 2)

        retired = cli(env, tmp_path, "audit", "verify")  # the retired master key opens nothing any more
        assert retired.returncode == 2
        assert "the master key does not match this key store" in retired.stderr
        ours["ADDVALUE_MASTER_KEY"] = env["ADDVALUE_MASTER_KEY"] = b64(new_master)
        with start_served(backend, tmp_path, env=ours) as second:
            records = access_log(second)
            assert [r["outcome"] for r in records] == ["allowed", "allowed", "rechain"]
            assert records[2]["route"] == "/keys/rotate-root"
            assert records[2]["prev_hash"] == records[1]["hash"]
            access_log(second)  # appended under the new root

        again = cli(env, tmp_path, "keys", "rotate-root")
        assert again.returncode == 0, again.stderr
        report = json.loads(again.stdout)
        assert (report["roots"], report["records_verified"], report["anchor_seq"]) == (3, 5, 6)
        assert "restart every process" in again.stderr
        verified = cli(env, tmp_path, "audit", "verify")
        assert verified.returncode == 0, verified.stderr
        assert json.loads(verified.stdout)["records"] == 6
        history = cli(env, tmp_path, "history", "--user", str(users[1]))
        assert history.returncode == 0, history.stderr
        lines = [json.loads(line) for line in history.stdout.splitlines()]
        assert lines
        assert not any(line["redacted"] for line in lines)
        assert cli(env, tmp_path, "history", "--user", str(users[0])).returncode != 0  # erased stays erased
    finally:
        if backend == "postgres":
            with psycopg.connect(str(POSTGRES_URL), autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
                conn.execute(f"DROP SCHEMA IF EXISTS {schema}_keys CASCADE")
