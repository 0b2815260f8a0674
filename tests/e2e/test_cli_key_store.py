"""Issue 13, item 9: a missing or foreign key store stops every process, through the real ``addvalue`` command.

SQLite and PostgreSQL. The key store is lost the ways it happens: its file or
schema removed, a new one created in its place, or an event-store backup
restored beside another deployment's keys.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import msgspec
import psycopg
import pytest

from adapters.encryption.key_check import REF_TABLE, key_store_exists
from adapters.eventstore.persistence import build_key_store, key_store_fingerprint
from application.principals import Principal
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import Settings
from tests.e2e.test_cli_archive import drop_event_store
from tests.fakes import consent, feedback

SERVICE = Principal(subject="tests", role="service")
ADDVALUE = str(Path(sys.executable).with_name("addvalue"))


def addvalue(settings: Settings, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed ``addvalue`` command, in a process of its own, against the test's store (``env``: more
    settings)."""
    given = env or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADDVALUE_")}
    env |= {
        "ADDVALUE_DATABASE_URL": settings.database.url,
        "ADDVALUE_DATABASE_SCHEMA": settings.database.schema,
        "ADDVALUE_MASTER_KEY": base64.b64encode(settings.master_key).decode(),
        "ADDVALUE_JWT_SECRET": settings.jwt_secret,
        "ADDVALUE_ARCHIVE_DIR": str(settings.archive_dir),
        "ADDVALUE_PORT": str(free_port()),  # for `serve`, which must refuse before it listens
    } | given
    return subprocess.run([ADDVALUE, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def free_port() -> int:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def store(settings: Settings, tmp_path: Path) -> Settings:
    """The fixture's store, with an archive folder of the test's own."""
    return msgspec.structs.replace(settings, archive_dir=tmp_path / "archive")


def person_with_data(settings: Settings) -> uuid.UUID:
    """One person's consent and feedback, then a restart (the start that records the key store)."""
    user = uuid.uuid4()
    container = bootstrap(settings)
    try:
        report = container.ingestion.ingest(
            [consent(user, analytics=True), feedback(user, "hi")], sent_at=None, principal=SERVICE
        )
        assert report.accepted == 2
    finally:
        container.close()
    bootstrap(settings).close()
    return user


def remove_key_store(settings: Settings) -> None:
    db = settings.database
    if db.kind == "sqlite":
        db.sibling("keys").unlink(missing_ok=True)
        return
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{db.schema}_keys" CASCADE')


def new_key_store(settings: Settings) -> None:
    """A new, empty key store where the old one was (as a start without the check would have made)."""
    remove_key_store(settings)
    keys = build_key_store(settings.database, settings.master_key)
    getattr(keys, "close", lambda: None)()


def forget_recorded_key_store(settings: Settings) -> None:
    """As an event store made before the key store was recorded in it."""
    db = settings.database
    if db.kind == "sqlite":
        assert db.sqlite_path is not None
        with closing(sqlite3.connect(db.sqlite_path)) as conn, conn:
            conn.execute(f"DELETE FROM {REF_TABLE}")
        return
    with psycopg.connect(db.url, autocommit=True) as pg:
        pg.execute(f'DELETE FROM "{db.schema}".{REF_TABLE}')


def keep_key_store(settings: Settings, tmp_path: Path) -> Callable[[], None]:
    """Set the key store aside (as its own backup would); the function returned puts it back."""
    db = settings.database
    if db.kind == "sqlite":
        kept = tmp_path / "kept.keys.db"
        shutil.copy2(db.sibling("keys"), kept)
        return lambda: shutil.copy2(kept, db.sibling("keys")) and None
    with psycopg.connect(db.url, autocommit=True) as pg:
        pg.execute(f'ALTER SCHEMA "{db.schema}_keys" RENAME TO "{db.schema}_kept"')

    def put_back() -> None:
        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{db.schema}_keys" CASCADE')
            conn.execute(f'ALTER SCHEMA "{db.schema}_kept" RENAME TO "{db.schema}_keys"')

    return put_back


def test_without_its_key_store_no_process_starts_and_none_is_created(store: Settings) -> None:
    user = person_with_data(store)
    remove_key_store(store)
    for command in (["history", "--user", str(user)], ["projections", "status"], ["serve"]):
        started = addvalue(store, *command)
        assert started.returncode == 2, (command, started.stderr)
        assert "key store" in started.stderr
        assert "does not exist" in started.stderr
    assert not key_store_exists(store.database)  # not silently replaced by an empty one


@pytest.mark.parametrize("recorded", [True, False], ids=["recorded", "older-event-store"])
def test_with_a_new_key_store_in_place_of_the_old_no_process_starts(store: Settings, recorded: bool) -> None:
    user = person_with_data(store)
    if not recorded:
        forget_recorded_key_store(store)
    new_key_store(store)
    started = addvalue(store, "history", "--user", str(user))
    assert started.returncode == 2, started.stderr
    assert "key store ks-" in started.stderr
    assert ("is key store" if recorded else "holds none of the keys") in started.stderr


def test_an_event_store_whose_only_person_was_erased_still_starts(store: Settings) -> None:
    user = person_with_data(store)
    container = bootstrap(store)
    try:
        assert container.erasure.request(user, requested_by="test", grace=timedelta(0)).subject_id is not None
    finally:
        container.close()
    forget_recorded_key_store(store)  # even by the older rule: the User.Erased record explains the missing key
    started = addvalue(store, "projections", "status")
    assert started.returncode == 0, started.stderr


def test_backup_restore_names_the_key_store_it_needs_and_refuses_another(store: Settings, tmp_path: Path) -> None:
    user = person_with_data(store)
    fingerprint = key_store_fingerprint(store.database, store.master_key)
    assert fingerprint is not None
    backup = tmp_path / "backup"
    made = addvalue(store, "backup", "create", str(backup))
    assert made.returncode == 0, made.stderr
    assert json.loads((backup / "manifest.json").read_text())["key_store"] == fingerprint
    assert fingerprint in made.stderr

    drop_event_store(store)
    kept = keep_key_store(store, tmp_path)
    new_key_store(store)
    refused = addvalue(store, "backup", "restore", str(backup))
    assert refused.returncode == 1
    assert f"this backup expects key store {fingerprint}" in refused.stderr
    remove_key_store(store)
    assert f"key store {fingerprint}" in addvalue(store, "backup", "restore", str(backup)).stderr

    kept()
    restored = addvalue(store, "backup", "restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert f"readable only with key store {fingerprint}" in restored.stderr
    history = addvalue(store, "history", "--user", str(user))
    assert history.returncode == 0, history.stderr
    assert not any(json.loads(line)["redacted"] for line in history.stdout.splitlines())
