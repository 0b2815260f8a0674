"""Secure defaults of the served process and the token command: the installed ``addvalue``, a real HTTP client."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import jwt
import pytest

from entrypoints.cli.main import main
from tests.e2e.served import free_port, start_served

ADDVALUE = str(Path(sys.executable).with_name("addvalue"))


def test_the_served_process_refuses_a_token_valid_for_longer_than_its_maximum(
    backend: str, workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    person = str(uuid.uuid4())
    with start_served(backend, workdir, env={"ADDVALUE_MAX_TOKEN_LIFETIME_DAYS": "1"}) as served:
        path = f"{served.base_url}/api/users/{person}/consent"
        command = [ADDVALUE, "token", "--sub", person, "--hours", "24"]
        minted = subprocess.run(command, check=False, env=served.env, cwd=workdir, capture_output=True, text=True)
        assert minted.returncode == 0, minted.stderr
        accepted = httpx.get(path, headers={"Authorization": f"Bearer {minted.stdout.strip()}"})
        assert accepted.status_code == 404  # through the token check: nobody by that id yet
        two_days = served.token(person, "user", valid_for=timedelta(days=2))
        refused = httpx.get(path, headers={"Authorization": f"Bearer {two_days}"})
        assert refused.status_code == 401
        assert "accepts at most 1 days" in refused.text
    monkeypatch.setenv("ADDVALUE_MAX_TOKEN_LIFETIME_DAYS", "1")
    assert main(["token", "--sub", person, "--hours", "48"]) == 2  # the command will not mint what is refused
    assert "--hours must be above 0 and at most 24" in capsys.readouterr().err


def test_the_token_command_mints_for_12_hours_unless_asked_and_never_beyond_720(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "--sub", "ops"]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 12 * 3600
    assert main(["token", "--sub", "ops", "--hours", "720"]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 720 * 3600
    for hours in ("721", "70000000", "0", "-1"):
        assert main(["token", "--sub", "ops", "--hours", hours]) == 2, hours
        assert "--hours must be above 0 and at most 720" in capsys.readouterr().err


def test_serving_on_a_public_address_with_generated_secrets_stops_naming_the_variables(workdir: Path) -> None:
    env = {**os.environ, "ADDVALUE_HOST": "0.0.0.0", "ADDVALUE_PORT": str(free_port())}
    done = subprocess.run(
        [ADDVALUE, "serve"], check=False, env=env, cwd=workdir, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "set ADDVALUE_MASTER_KEY and ADDVALUE_JWT_SECRET" in done.stderr
    assert not (workdir / "var" / "jwt.secret").exists()
