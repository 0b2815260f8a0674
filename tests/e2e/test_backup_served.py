"""``addvalue serve`` runs the backup job it owes at start; that backup restores elsewhere (issue 14).

SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.database_url import parse_database_url
from tests.e2e.served import start_served
from tests.e2e.test_backup_job import drop_fresh_store, fresh_store


def addvalue(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "entrypoints.cli", *args]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)


def test_serve_makes_up_a_missed_backup_at_start_and_it_restores_into_a_fresh_store(
    backend: str, tmp_path: Path
) -> None:
    folder = tmp_path / "backups"
    long_ago = (datetime.now(UTC).date() - timedelta(days=3)).isoformat()  # the last backup; then stopped
    prepare = (("jobs", "run", "backup", "--period", long_ago),)

    with start_served(backend, tmp_path, env={"ADDVALUE_BACKUP_DIR": str(folder)}, prepare=prepare) as service:
        deadline = time.monotonic() + 60
        while len(made := sorted(p for p in folder.iterdir() if not p.name.startswith("."))) < 2:
            assert time.monotonic() < deadline, service.output()
            time.sleep(0.2)
        db = parse_database_url(
            service.env["ADDVALUE_DATABASE_URL"], schema=service.env.get("ADDVALUE_DATABASE_SCHEMA", "public")
        )
        elsewhere = service.env | fresh_store(db, tmp_path / "fresh")
    try:
        served_backup = made[-1]  # written by the served process
        restored = addvalue(elsewhere, tmp_path, "backup", "restore", str(served_backup))
        assert restored.returncode == 0, restored.stderr
        history = addvalue(elsewhere, tmp_path, "jobs", "history")
        assert history.returncode == 0, history.stderr
        runs = [json.loads(line) for line in history.stdout.splitlines()]
        # The restored store holds what was there when serve backed it up: the run of three days ago.
        assert {"job": "backup", "period": long_ago, "status": "succeeded"}.items() <= runs[0].items()
    finally:
        drop_fresh_store(db, elsewhere)
