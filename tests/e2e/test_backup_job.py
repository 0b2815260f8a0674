"""The daily ``backup`` job: what it writes is restored elsewhere, and an erasure reaches it (issue 14).

Through main(), as an operator runs the commands, on SQLite and PostgreSQL. The
"fresh location" is a new folder (SQLite) or a new database (PostgreSQL) that
holds only the key store as it is now, as after a disaster: events from the
backup, keys from the live key store (or its own short-lived backup).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import psycopg
import pytest

from adapters.database_url import Database
from entrypoints.cli.main import main
from entrypoints.settings import Settings
from tests.e2e.test_cli_archive import CANARY, cli_environment, history, ingest


@pytest.fixture
def env(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The fixture's store as the CLI finds it (ADDVALUE_* variables), with the backup job's folder."""
    return cli_environment(settings, tmp_path, monkeypatch, ADDVALUE_BACKUP_DIR=str(tmp_path / "backups"))


@pytest.fixture
def fresh(env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """Call it to point the CLI at a new, empty store beside a copy of the live key store."""
    made: list[dict[str, str]] = []

    def move() -> None:
        made.append(fresh_store(env.database, tmp_path / "fresh"))
        for name, value in made[0].items():
            monkeypatch.setenv(name, value)

    yield move
    for variables in made:
        drop_fresh_store(env.database, variables)


def fresh_store(db: Database, place: Path) -> dict[str, str]:
    """An empty store holding only a copy of ``db``'s key store as it is now: the ADDVALUE_* variables naming it.

    SQLite: a new folder. PostgreSQL: a new database, with ``<schema>_keys`` copied by pg_dump.
    """
    place.mkdir()
    variables = {"ADDVALUE_ARCHIVE_DIR": str(place / "archive")}
    if db.kind == "sqlite":
        assert db.sqlite_path is not None
        keys = db.sqlite_path.parent / "addvalue.keys.db"
        with closing(sqlite3.connect(keys)) as src, closing(sqlite3.connect(place / keys.name)) as dst:
            src.backup(dst)
        return variables | {"ADDVALUE_DATABASE_URL": f"sqlite:///{place}/addvalue.db"}
    name = f"restore_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = db.url.rsplit("/", 1)[0] + f"/{name}"
    dump = subprocess.run(
        ["pg_dump", f"--schema={db.schema}_keys", f"--dbname={db.url}"], check=True, capture_output=True, text=True
    )
    subprocess.run(
        ["psql", "--quiet", "-v", "ON_ERROR_STOP=1", f"--dbname={url}"],
        input=dump.stdout,
        check=True,
        capture_output=True,
        text=True,
    )
    return variables | {"ADDVALUE_DATABASE_URL": url}


def drop_fresh_store(db: Database, variables: dict[str, str]) -> None:
    if db.kind == "postgresql":
        name = variables["ADDVALUE_DATABASE_URL"].rsplit("/", 1)[1]
        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def written(env: Settings) -> list[Path]:
    assert env.backup_dir is not None
    return sorted(p for p in env.backup_dir.iterdir() if not p.name.startswith("."))


def test_a_backup_the_job_wrote_restores_elsewhere_with_only_the_erased_persons_data_unreadable(
    env: Settings, fresh: Callable[[], None], capsys: pytest.CaptureFixture[str]
) -> None:
    erased, kept = uuid.uuid4(), uuid.uuid4()
    ingest(env, erased, days_ago=1)
    ingest(env, kept, days_ago=1)
    capsys.readouterr()
    assert main(["jobs", "run", "backup"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "succeeded"
    [backup] = written(env)
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["keys_included"] is False
    assert manifest["key_store"] is not None
    assert not any("keys" in name for name in manifest["files"])
    if env.database.kind == "postgresql":
        assert (backup / "events.dump").read_bytes().startswith(b"PGDMP")  # pg_dump's custom format
    assert all(CANARY.encode() not in p.read_bytes() for p in backup.rglob("*") if p.is_file())
    assert main(["erase", "--user", str(erased)]) == 0
    subject = capsys.readouterr().out.split("subject ")[1].split(";")[0]

    fresh()
    assert main(["backup", "restore", str(backup)]) == 0

    capsys.readouterr()
    assert main(["history", "--subject", subject]) == 0
    gone = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert gone
    assert all(entry["redacted"] for entry in gone)  # the backup predates the erasure; the key is destroyed
    readable = history(capsys, kept)
    assert readable
    assert not any(entry["redacted"] for entry in readable)
    assert CANARY in json.dumps(readable)  # decrypted with the live key store's key
