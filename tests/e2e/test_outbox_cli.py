"""``addvalue outbox``: install, sql, status, uninstall, on a second PostgreSQL database standing for the app's."""

from __future__ import annotations

import json
import uuid

import pytest

from entrypoints.cli.main import main
from tests.app_database import AppDatabase, app_db
from tests.fakes import consent

__all__ = ["app_db"]  # the fixture, used by name


def test_sql_prints_what_install_runs_and_the_example_triggers_commented_out(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["outbox", "sql"]) == 0
    printed = capsys.readouterr().out
    assert "CREATE OR REPLACE FUNCTION addvalue_outbox.emit(event jsonb) RETURNS bigint" in printed
    assert "\n-- CREATE TRIGGER addvalue_user_signup AFTER INSERT ON auth.users" in printed
    assert "\n-- CREATE TRIGGER addvalue_user_followed AFTER INSERT ON public.follows" in printed


def test_without_a_url_the_commands_say_what_to_give(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ADDVALUE_OUTBOX_URLS", raising=False)
    assert main(["outbox", "status"]) == 2
    assert "give --database-url, or set ADDVALUE_OUTBOX_URLS" in capsys.readouterr().err


def test_an_unreachable_database_is_exit_1_without_its_password(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["outbox", "install", "--database-url", "postgresql://app:hunter2@127.0.0.1:1/app"]) == 1
    said = capsys.readouterr().err
    assert "127.0.0.1:1/app" in said
    assert "hunter2" not in said


@pytest.mark.postgres
def test_install_status_and_uninstall_of_the_configured_outboxes(
    app_db: AppDatabase, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADDVALUE_OUTBOX_URLS", app_db.url)
    assert main(["outbox", "install"]) == 0
    assert main(["outbox", "install"]) == 0  # harmless
    app_db.emit(consent(uuid.uuid4(), analytics=True))
    capsys.readouterr()
    assert main(["outbox", "status"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["pending"], status["delivered"], status["rejected"]) == (1, 0, 0)
    assert status["oldest_pending_seconds"] >= 0
    assert status["outbox"].endswith("/" + app_db.url.rsplit("/", 1)[1])

    app_db.execute(
        "CREATE FUNCTION public.emits() RETURNS void LANGUAGE sql AS $$ SELECT addvalue_outbox.emit('{}') $$"
    )
    assert main(["outbox", "uninstall"]) == 1
    assert "would fail once it is gone: public.emits()" in capsys.readouterr().err
    assert main(["outbox", "uninstall", "--force"]) == 0
    assert app_db.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'addvalue_outbox'") == [(0,)]
