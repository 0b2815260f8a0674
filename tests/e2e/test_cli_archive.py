"""``addvalue archive run`` and ``addvalue backup create|restore`` on SQLite and PostgreSQL, through main()."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from application.principals import Principal
from entrypoints.bootstrap import Overrides, bootstrap
from entrypoints.cli.main import main
from entrypoints.settings import Settings, load_settings
from tests.fakes import FixedClock, consent, event, feedback

SERVICE = Principal(subject="tests", role="service")
CANARY = "backup-canary-41d2"


@pytest.fixture
def env(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The fixture's store, as the CLI finds it: through ADDVALUE_* variables."""
    return cli_environment(settings, tmp_path, monkeypatch)


def cli_environment(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **more: str) -> Settings:
    """Set the ADDVALUE_* variables naming ``settings``' store (and ``more``); the settings the CLI reads."""
    for name in [n for n in __import__("os").environ if n.startswith("ADDVALUE_")]:
        monkeypatch.delenv(name)
    db = settings.database
    monkeypatch.setenv("ADDVALUE_DATABASE_URL", db.url)
    monkeypatch.setenv("ADDVALUE_DATABASE_SCHEMA", db.schema)
    monkeypatch.setenv("ADDVALUE_MASTER_KEY", base64.b64encode(settings.master_key).decode())
    monkeypatch.setenv("ADDVALUE_JWT_SECRET", settings.jwt_secret)
    monkeypatch.setenv("ADDVALUE_ARCHIVE_DIR", str(tmp_path / "archive"))
    for name, value in more.items():
        monkeypatch.setenv(name, value)
    return load_settings()


def ingest(settings: Settings, person: uuid.UUID, *, days_ago: float) -> None:
    """A consent and two events of the person, sent that long ago (the service's clock then)."""
    then = datetime.now(UTC) - timedelta(days=days_ago)
    container = bootstrap(settings, overrides=Overrides(clock=FixedClock(then)))
    try:
        batch = [
            consent(person, analytics=True, at=then - timedelta(minutes=5)),
            event("wave_joined", person, {"wave_id": "w"}, at=then - timedelta(minutes=4)),
            feedback(person, CANARY, at=then - timedelta(minutes=3)),
        ]
        report = container.ingestion.ingest(batch, sent_at=None, principal=SERVICE)
        assert report.accepted == len(batch), report
    finally:
        container.close()


def archived_person(settings: Settings) -> uuid.UUID:
    """A person whose events, sent 120 days ago, ``archive run`` has just moved out (beside someone active today)."""
    person = uuid.uuid4()
    ingest(settings, person, days_ago=120)
    ingest(settings, uuid.uuid4(), days_ago=0)
    assert main(["archive", "run"]) == 0
    return person


def history(capsys: pytest.CaptureFixture[str], person: uuid.UUID) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["history", "--user", str(person)]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def drop_event_store(settings: Settings) -> None:
    """Lose everything but the key store (and the master key, which is in the environment)."""
    assert settings.archive_dir is not None
    shutil.rmtree(settings.archive_dir, ignore_errors=True)
    db = settings.database
    if db.kind == "sqlite":
        assert db.sqlite_path is not None
        for path in db.sqlite_path.parent.glob("addvalue*"):
            if not path.name.startswith("addvalue.keys.db"):
                path.unlink()
        return
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{db.schema}" CASCADE')


def test_archive_run_reports_what_it_moved_and_history_still_finds_every_event(
    env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    person, today = uuid.uuid4(), uuid.uuid4()
    ingest(env, person, days_ago=120)
    ingest(env, today, days_ago=0)
    before = history(capsys, person)

    assert main(["archive", "run"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["sessions"], report["events"]) == (1, 2)  # Started, and one EventsTracked for the batch
    assert report["files"]
    assert Path(report["files"][0]).exists()
    assert history(capsys, person) == before
    assert any(entry["event_type"] == "Session.EventsTracked" for entry in before)


def test_archive_run_takes_a_limit_of_its_own(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    ingest(env, uuid.uuid4(), days_ago=10)
    ingest(env, uuid.uuid4(), days_ago=0)
    assert main(["archive", "run"]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == 0
    assert main(["archive", "run", "--older-than-days", "5"]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == 2
    assert main(["archive", "run", "--older-than-days", "0"]) == 2


def test_a_restored_backup_is_readable_with_the_live_keys_and_refuses_to_restore_twice(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    person = archived_person(env)
    before = history(capsys, person)
    backup = tmp_path / "backup"

    assert main(["backup", "create", str(backup)]) == 0
    made = json.loads(capsys.readouterr().out)
    assert any(name.startswith("archive/") for name in made["files"])
    assert not any("keys" in name for name in made["files"])
    assert all(CANARY.encode() not in p.read_bytes() for p in backup.rglob("*") if p.is_file())
    drop_event_store(env)
    assert main(["backup", "restore", str(backup)]) == 0

    after = history(capsys, person)
    assert after == before
    assert not any(entry["redacted"] for entry in after)
    assert main(["backup", "restore", str(backup)]) == 1
    assert "restore only into an empty" in capsys.readouterr().err


def test_an_erasure_after_a_backup_also_makes_the_persons_events_in_it_unreadable(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    person = archived_person(env)
    assert main(["backup", "create", str(tmp_path / "backup")]) == 0
    assert main(["erase", "--user", str(person)]) == 0
    subject = capsys.readouterr().out.split("subject ")[1].split(";")[0]
    drop_event_store(env)

    assert main(["backup", "restore", str(tmp_path / "backup")]) == 0
    capsys.readouterr()
    assert main(["history", "--subject", subject]) == 0
    restored = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert restored
    assert all(entry["redacted"] for entry in restored)  # the backup predates User.Erased; the key is gone


def test_backup_create_wants_a_new_folder(env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "something").write_text("x")
    assert main(["backup", "create", str(tmp_path / "taken")]) == 1
    assert "not empty" in capsys.readouterr().err


def test_restore_refuses_a_store_that_holds_events_even_without_an_archive(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ingest(env, uuid.uuid4(), days_ago=0)
    assert main(["backup", "create", str(tmp_path / "backup")]) == 0
    assert main(["backup", "restore", str(tmp_path / "backup")]) == 1
    refused = capsys.readouterr().err
    assert "restore only into an empty" in refused
    assert "archive folder" not in refused


def test_an_archive_dir_that_is_a_file_stops_the_cli_and_serve_with_exit_2_and_no_traceback(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "archive.parquet").write_bytes(b"PAR1")
    monkeypatch.setenv("ADDVALUE_ARCHIVE_DIR", str(workdir / "archive.parquet"))
    for command in (["archive", "run"], ["history", "--user", str(uuid.uuid4())]):
        assert main(command) == 2, command
        err = capsys.readouterr().err
        assert "configuration error: ADDVALUE_ARCHIVE_DIR: " in err
        assert "is a file, not a folder" in err
    env = {**__import__("os").environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    serve = [sys.executable, "-m", "entrypoints.cli", "serve"]
    served = subprocess.run(serve, env=env, cwd=workdir, capture_output=True, text=True, timeout=60, check=False)
    assert served.returncode == 2
    assert "ADDVALUE_ARCHIVE_DIR: " in served.stderr
    assert "Traceback" not in served.stderr
