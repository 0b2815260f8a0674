"""addvalue users export|erase against a real SQLite store."""

from __future__ import annotations

import io
import json
import stat
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest

from application.principals import Principal
from entrypoints.bootstrap import bootstrap
from entrypoints.cli.main import main
from entrypoints.settings import load_settings
from tests.fakes import consent, feedback

SERVICE = Principal(subject="tests", role="service")
ADDVALUE = str(Path(sys.executable).with_name("addvalue"))  # the installed command, in a process of its own


def printed(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    """The JSON document the command printed last (log lines may come before it)."""
    found: dict[str, object] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return found


def test_export_then_erase_with_a_grace_period_then_now(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    person = uuid.uuid4()
    container = bootstrap(load_settings())
    try:
        container.ingestion.ingest(
            [consent(person, analytics=True), feedback(person, "hi")], sent_at=None, principal=SERVICE
        )
    finally:
        container.close()

    assert main(["users", "export", str(person)]) == 0
    bundle = printed(capsys)
    assert bundle["format"] == "addvalue-export/1"
    assert [e["event_name"] for e in bundle["events"]] == ["user_consent_update", "wave_feedback_submitted"]
    assert main(["users", "export", str(person), "--out", str(workdir / "me.zip")]) == 0
    names = zipfile.ZipFile(io.BytesIO((workdir / "me.zip").read_bytes())).namelist()
    assert "events/wave_feedback_submitted.csv" in names

    assert main(["users", "erase", str(person)]) == 0
    receipt = printed(capsys)
    assert receipt["key_destroyed"] is False
    assert main(["users", "export", str(person)]) == 1  # out of use at once
    assert "no data is held" in capsys.readouterr().err
    assert main(["users", "erase", str(person), "--now"]) == 0  # asked again, now: the first request, key destroyed
    now = printed(capsys)
    assert (now["requested_at"], now["key_destroyed"]) == (receipt["requested_at"], True)
    assert main(["users", "erase", str(uuid.uuid4())]) == 1


def test_the_erase_command_destroys_the_key_of_a_pending_erasure_and_says_so(workdir: Path) -> None:
    """Through the installed command line (a process of its own): exit 0 only when the key is gone."""
    person = uuid.uuid4()
    container = bootstrap(load_settings())
    try:
        container.ingestion.ingest([consent(person, analytics=True)], sent_at=None, principal=SERVICE)
        subject = container.keys.subject_for(person, create=False)
        container.erasure.request(person, requested_by="user")  # pending: 30 days of grace
    finally:
        container.close()
    command = [ADDVALUE, "erase", "--user", str(person)]
    done = subprocess.run(command, check=False, cwd=workdir, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"erased: subject {subject}; key destroyed: True" in done.stdout
    container = bootstrap(load_settings())
    try:
        assert subject is not None
        assert container.keys.data_key(subject) is None
    finally:
        container.close()


def test_the_command_line_keeps_its_data_folder_and_databases_to_their_owner(workdir: Path) -> None:
    """Run as a shell with the common umask 022 would run it: var/ 0700, every database and secret 0600."""
    command = [ADDVALUE, "users", "export", str(uuid.uuid4())]
    done = subprocess.run(command, check=False, cwd=workdir, capture_output=True, text=True, umask=0o022, timeout=60)
    assert done.returncode == 1, done.stderr  # nobody to export; every store was opened on the way
    folder = workdir / "var"
    assert oct(stat.S_IMODE(folder.stat().st_mode)) == oct(0o700)
    modes = {path.name: oct(stat.S_IMODE(path.stat().st_mode)) for path in folder.iterdir()}
    assert any(name.endswith(".db") for name in modes)
    assert {"master.key", "jwt.secret", "addvalue.db", "addvalue.keys.db"} <= set(modes)
    assert modes == dict.fromkeys(modes, oct(0o600))
