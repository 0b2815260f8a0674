"""``addvalue keys rotate-master`` against a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import json
import os
import uuid
from pathlib import Path

import pytest

from application.principals import Principal
from entrypoints.bootstrap import bootstrap
from entrypoints.cli.main import main
from entrypoints.settings import Settings, load_settings
from tests.fakes import consent, feedback

SERVICE = Principal(subject="tests", role="service")


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


@pytest.fixture
def environment(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The CLI's environment for the test's store, with its master key set."""
    for name in list(os.environ):
        if name.startswith("ADDVALUE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ADDVALUE_DATABASE_URL", settings.database.url)
    monkeypatch.setenv("ADDVALUE_DATABASE_SCHEMA", settings.database.schema)
    monkeypatch.setenv("ADDVALUE_MASTER_KEY", b64(settings.master_key))
    monkeypatch.setenv("ADDVALUE_JWT_SECRET", settings.jwt_secret)
    return settings


def people_with_data(settings: Settings, count: int) -> list[uuid.UUID]:
    users = [uuid.uuid4() for _ in range(count)]
    container = bootstrap(settings)
    try:
        batch = [raw for user in users for raw in (consent(user, analytics=True), feedback(user, "hi"))]
        assert container.ingestion.ingest(batch, sent_at=None, principal=SERVICE).accepted == 2 * count
    finally:
        container.close()
    return users


def test_rotate_master_rewraps_every_key_and_says_what_to_do_next(
    environment: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    users = people_with_data(environment, 3)
    new = os.urandom(32)
    monkeypatch.setenv("ADDVALUE_NEW_MASTER_KEY", b64(new))
    capsys.readouterr()

    assert main(["keys", "rotate-master"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["keys_rewrapped"] == 3
    assert report["seconds"] >= 0
    assert "set ADDVALUE_MASTER_KEY" in err
    assert "destroy the old master key" in err
    for secret in (b64(new), b64(environment.master_key)):
        assert secret not in out + err

    assert main(["history", "--user", str(users[0])]) == 2  # the old key no longer opens the store
    assert "the master key does not match this key store" in capsys.readouterr().err
    monkeypatch.setenv("ADDVALUE_MASTER_KEY", b64(new))
    assert main(["history", "--user", str(users[0])]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines
    assert not any(line["redacted"] for line in lines)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "set ADDVALUE_NEW_MASTER_KEY"),
        ("not base64!", "not valid base64"),
        (b64(b"short"), "must be base64 of 32 bytes"),
    ],
)
def test_rotate_master_refuses_a_missing_or_malformed_new_key_and_changes_nothing(
    environment: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    value: str | None,
    message: str,
) -> None:
    (user,) = people_with_data(environment, 1)
    if value is not None:
        monkeypatch.setenv("ADDVALUE_NEW_MASTER_KEY", value)
    assert main(["keys", "rotate-master"]) == 2
    assert message in capsys.readouterr().err
    assert main(["history", "--user", str(user)]) == 0  # still the old key


def test_rotate_master_refuses_the_current_key_as_the_new_one(
    environment: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ADDVALUE_NEW_MASTER_KEY", b64(environment.master_key))
    assert main(["keys", "rotate-master"]) == 2
    assert "the new master key is the current one" in capsys.readouterr().err


def test_the_new_key_is_never_taken_from_the_command_line(
    environment: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["keys", "rotate-master", b64(os.urandom(32))])  # it would show in ps and the shell history
    assert refused.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_with_the_development_key_file_the_file_gets_the_new_key(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("ADDVALUE_"):
            monkeypatch.delenv(name)
    (user,) = people_with_data(load_settings(), 1)  # var/master.key, generated
    key_file = tmp_path / "var" / "master.key"
    new = os.urandom(32)
    monkeypatch.setenv("ADDVALUE_NEW_MASTER_KEY", b64(new))
    capsys.readouterr()

    assert main(["keys", "rotate-master"]) == 0
    assert "master.key now holds the new key" in capsys.readouterr().err
    assert base64.b64decode(key_file.read_text()) == new
    assert key_file.stat().st_mode & 0o777 == 0o600
    monkeypatch.delenv("ADDVALUE_NEW_MASTER_KEY")
    assert main(["history", "--user", str(user)]) == 0
