"""addvalue users export|erase against a real SQLite store."""

from __future__ import annotations

import io
import json
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
    assert main(["users", "erase", str(person), "--now"]) == 0  # asked again: the first receipt, key still due later
    assert printed(capsys)["requested_at"] == receipt["requested_at"]
    assert main(["users", "erase", str(uuid.uuid4())]) == 1
