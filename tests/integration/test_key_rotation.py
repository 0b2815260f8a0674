"""Master-key rotation on SQLite and PostgreSQL: everything still opens with the new key, nothing with the old one."""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable
from contextlib import closing
from typing import Any

import msgspec
import psycopg
import pytest

from adapters.encryption.envelope import Tampered, seal, unseal
from adapters.encryption.keystore import PostgresKeyStore, SqliteKeyStore
from adapters.encryption.subject_keys import MasterKeyMismatch
from adapters.eventstore.persistence import build_key_store
from application.principals import Principal
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.settings import Settings
from tests.fakes import consent, feedback

SERVICE = Principal(subject="tests", role="service")
CANARY = "CANARY-rotation-4b1d"
DATA_KEY_CONTEXT = b"addvalue/data-key/v1:"  # as docs/privacy.md describes the wrapping
ROOT_CONTEXT = b"addvalue/root-chain/v2"  # random roots (issue 13)
LEGACY_ROOT_CONTEXT = b"addvalue/root-secret/v1"  # before issue 13: the first master key was the root


def with_key(settings: Settings, master_key: bytes) -> Settings:
    return msgspec.structs.replace(settings, master_key=master_key)


def stored_rows(settings: Settings) -> tuple[list[tuple[uuid.UUID, bytes]], bytes | None]:
    """The wrapped data keys and the wrapped root, as the database holds them."""
    db = settings.database
    if db.kind == "sqlite":
        with closing(sqlite3.connect(db.sibling("keys"))) as conn, conn:
            keys = [
                (uuid.UUID(s), bytes(w)) for s, w in conn.execute("SELECT subject_id, wrapped_key FROM subject_keys")
            ]
            root = conn.execute("SELECT wrapped_root FROM key_store_meta").fetchone()
    else:
        with psycopg.connect(db.url) as conn:
            keys = [
                (s, bytes(w))
                for s, w in conn.execute(f"SELECT subject_id, wrapped_key FROM {db.schema}_keys.subject_keys")
            ]
            root = conn.execute(f"SELECT wrapped_root FROM {db.schema}_keys.key_store_meta").fetchone()
    return keys, None if root is None else bytes(root[0])


def make_legacy(settings: Settings) -> None:
    """An empty key store as main made it before issue 13: its one root is the master key itself."""
    close(build_key_store(settings.database, settings.master_key))
    legacy_root = seal(settings.master_key, settings.master_key, LEGACY_ROOT_CONTEXT)
    db = settings.database
    if db.kind == "sqlite":
        with closing(sqlite3.connect(db.sibling("keys"))) as conn, conn:
            conn.execute("UPDATE key_store_meta SET wrapped_root = ?", (legacy_root,))
    else:
        with psycopg.connect(db.url) as conn:
            conn.execute(f"UPDATE {db.schema}_keys.key_store_meta SET wrapped_root = %s", (legacy_root,))


def run_on_keys(settings: Settings, sql: str) -> None:
    db = settings.database
    if db.kind == "sqlite":
        with closing(sqlite3.connect(db.sibling("keys"))) as conn, conn:
            conn.execute(sql.format(schema=""))
    else:
        with psycopg.connect(db.url) as conn:
            conn.execute(sql.format(schema=f"{db.schema}_keys."))


def opens(key: bytes, sealed: bytes, context: bytes) -> bool:
    try:
        unseal(key, sealed, context)
    except Tampered:
        return False
    return True


def ingest_people(container: Container, count: int) -> list[uuid.UUID]:
    users = [uuid.uuid4() for _ in range(count)]
    batch = [raw for user in users for raw in (consent(user, analytics=True), feedback(user, CANARY))]
    report = container.ingestion.ingest(batch, sent_at=None, principal=SERVICE)
    assert report.accepted == 2 * count
    return users


def comments(container: Container, subject: uuid.UUID) -> list[str]:
    tracked = [e for e in container.history.of_subject(subject) if e.event_type == "Session.EventsTracked"]
    return [str(msg) for e in tracked for msg in e.data.get("events", []) if CANARY in str(msg)]


def test_events_written_before_a_rotation_are_read_found_and_erased_after_it(settings: Settings) -> None:
    old, new = settings.master_key, os.urandom(32)
    before = bootstrap(settings)
    try:
        users = ingest_people(before, 3)
        subjects = [before.keys.subject_for(u, create=False) for u in users]
        report = before.keys.rotate_master(new)
        assert report.keys_rewrapped == 3
        assert comments(before, subjects[0])  # this process goes on with the new key
    finally:
        before.close()

    after = bootstrap(with_key(settings, new))
    try:
        assert [after.keys.subject_for(u, create=False) for u in users] == subjects
        assert after.keys.subjects_for(users) == dict(zip(users, subjects, strict=True))
        assert all(comments(after, s) for s in subjects if s is not None)
        ingest_people(after, 1)  # new people get keys under the new master key
        receipt = after.erasure.erase(users[0], requested_by="tests")
        assert receipt.key_destroyed
        assert after.keys.subject_for(users[0], create=False) is None
        assert subjects[0] is not None
        assert not comments(after, subjects[0])
        assert after.keys.count() == 3
    finally:
        after.close()
    assert old != new


def test_a_store_opened_with_the_retired_master_key_fails_at_start(settings: Settings) -> None:
    container = bootstrap(settings)
    try:
        ingest_people(container, 1)
        container.keys.rotate_master(os.urandom(32))
    finally:
        container.close()
    with pytest.raises(MasterKeyMismatch, match="the master key does not match this key store"):
        bootstrap(settings)


def test_after_a_rotation_no_stored_wrapped_key_opens_with_the_old_master_key(settings: Settings) -> None:
    old, new = settings.master_key, os.urandom(32)
    container = bootstrap(settings)
    try:
        ingest_people(container, 5)
        container.keys.orphan_subject()
        keys_before, root_before = stored_rows(settings)
        assert root_before is not None
        assert all(opens(old, w, DATA_KEY_CONTEXT + s.bytes) for s, w in keys_before)
        container.keys.rotate_master(new)
    finally:
        container.close()

    keys_after, root_after = stored_rows(settings)
    assert root_after is not None
    assert {s for s, _ in keys_after} == {s for s, _ in keys_before}
    assert not any(opens(old, w, DATA_KEY_CONTEXT + s.bytes) for s, w in keys_after)
    assert all(opens(new, w, DATA_KEY_CONTEXT + s.bytes) for s, w in keys_after)
    assert not opens(old, root_after, ROOT_CONTEXT)
    assert opens(new, root_after, ROOT_CONTEXT)
    if settings.database.kind == "sqlite":  # secure_delete: the old wrapped keys are gone from the file itself
        on_disk = settings.database.sibling("keys").read_bytes()
        assert not any(w in on_disk for _, w in keys_before)
        assert root_before not in on_disk


def test_a_wrong_master_key_fails_at_start_not_at_the_first_decrypt(settings: Settings) -> None:
    bootstrap(settings).close()  # an empty store knows its master key too
    with pytest.raises(MasterKeyMismatch, match="ADDVALUE_MASTER_KEY"):
        bootstrap(with_key(settings, os.urandom(32)))


def test_lookups_and_derived_secrets_survive_master_rotations_and_owe_nothing_to_the_master_key(
    settings: Settings,
) -> None:
    first, second, third = settings.master_key, os.urandom(32), os.urandom(32)
    keys = build_key_store(settings.database, first)
    try:
        user = uuid.uuid4()
        subject = keys.subject_for(user, create=True)
        secret = keys.derived_secret(b"addvalue access log")
        # A random root (issue 13): nothing about it follows from any master key, the first included.
        assert secret != hmac.new(first, b"addvalue access log", hashlib.sha256).digest()
        assert not keys.root_is_legacy
        keys.rotate_master(second)
        keys.rotate_master(third)
        assert keys.derived_secret(b"addvalue access log") == secret
    finally:
        close(keys)
    reopened = build_key_store(settings.database, third)
    try:
        assert reopened.subject_for(user, create=False) == subject
        assert reopened.derived_secret(b"addvalue access log") == secret
        assert reopened.derived_secret(b"another purpose") != secret
    finally:
        close(reopened)


def test_a_store_from_before_the_root_secret_keeps_its_lookups_and_still_refuses_a_wrong_key(
    settings: Settings,
) -> None:
    make_legacy(settings)
    keys = build_key_store(settings.database, settings.master_key)
    user = uuid.uuid4()
    subject = keys.subject_for(user, create=True)
    close(keys)
    run_on_keys(settings, "DROP TABLE {schema}key_store_meta")  # as the store was before rotation existed

    with pytest.raises(MasterKeyMismatch):  # a wrong key must not become the root
        build_key_store(settings.database, os.urandom(32))
    legacy = build_key_store(settings.database, settings.master_key)
    try:
        assert legacy.root_is_legacy
        assert legacy.subject_for(user, create=False) == subject
        # Its digests and secrets stay what they were: keyed by the first master key.
        secret = hmac.new(settings.master_key, b"addvalue access log", hashlib.sha256).digest()
        assert legacy.derived_secret(b"addvalue access log") == secret
        legacy.rotate_master(os.urandom(32))
        assert legacy.subject_for(user, create=False) == subject
        assert legacy.root_is_legacy  # rotate_master alone keeps it: `keys rotate-master` rotates the root first
    finally:
        close(legacy)


def test_a_process_still_on_the_retired_key_cannot_add_keys_wrapped_by_it(settings: Settings) -> None:
    stale = build_key_store(settings.database, settings.master_key)
    rotating = build_key_store(settings.database, settings.master_key)
    try:
        known = stale.subject_for(uuid.uuid4(), create=True)
        assert known is not None
        cached = stale.data_key(known)
        rotating.rotate_master(os.urandom(32))
        with pytest.raises(MasterKeyMismatch, match="rotated after this process started"):
            stale.subject_for(uuid.uuid4(), create=True)
        with pytest.raises(MasterKeyMismatch):
            stale.orphan_subject()
        with pytest.raises(MasterKeyMismatch, match="rotated after this process started"):
            stale.create_subjects([uuid.uuid4(), uuid.uuid4()])
        assert rotating.count() == 1
        assert stale.data_key(known) == cached  # from its cache, for up to 30 s
    finally:
        close(stale)
        close(rotating)


def test_subjects_made_together_are_found_as_those_made_one_by_one_and_existing_ones_are_kept(
    settings: Settings,
) -> None:
    keys = build_key_store(settings.database, settings.master_key)
    other = build_key_store(settings.database, settings.master_key)  # another process: no shared cache
    try:
        existing = uuid.uuid4()
        kept = keys.subject_for(existing, create=True)
        new = [uuid.uuid4() for _ in range(700)]  # more than one chunk of SQLite's IN lists
        made = keys.create_subjects([existing, *new, new[0]])
        assert made[existing] == kept
        assert set(made) == {existing, *new}
        assert len(set(made.values())) == 701
        assert other.subjects_for([existing, *new]) == made
        assert all(other.subject_for(u, create=False) == made[u] for u in new[:5])
        for person in new[:5]:  # the key the maker cached is the one stored
            assert keys.data_key(made[person]) == other.data_key(made[person]) is not None
        assert keys.create_subjects(new[:3]) == {u: made[u] for u in new[:3]}  # made once only
        assert keys.create_subjects([]) == {}
        assert other.count() == 701
    finally:
        close(keys)
        close(other)


def test_an_insert_waiting_on_a_running_rotation_is_refused_once_it_commits(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    new = os.urandom(32)
    stale = build_key_store(settings.database, settings.master_key)
    rotating = build_key_store(settings.database, settings.master_key)
    try:
        for _ in range(3):
            rotating.orphan_subject()
        inside, release = threading.Event(), threading.Event()
        unwrap = rotating._unwrap

        def slow_unwrap(subject: uuid.UUID, wrapped: bytes) -> bytes:
            inside.set()  # within the rotation's transaction, writers locked out
            release.wait(10)
            return unwrap(subject, wrapped)

        monkeypatch.setattr(rotating, "_unwrap", slow_unwrap)
        rotation = Outcome(lambda: rotating.rotate_master(new))
        assert inside.wait(10)
        insert = Outcome(lambda: stale.subject_for(uuid.uuid4(), create=True))
        insert.thread.join(0.5)
        assert insert.thread.is_alive(), "the insert did not wait for the rotation"
        release.set()
        rotation.thread.join(10)
        insert.thread.join(10)
        assert rotation.error is None
        assert isinstance(insert.error, MasterKeyMismatch)
        keys, _ = stored_rows(settings)
        assert len(keys) == 3
        assert all(opens(new, w, DATA_KEY_CONTEXT + s.bytes) for s, w in keys)
    finally:
        release.set()
        close(stale)
        close(rotating)


class Outcome:
    """Runs ``work`` in a thread and keeps what it raised."""

    def __init__(self, work: Callable[[], Any]) -> None:
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self.thread.start()

    def _run(self, work: Callable[[], Any]) -> None:
        try:
            work()
        except BaseException as e:
            self.error = e


def close(keys: SqliteKeyStore | PostgresKeyStore) -> None:
    if isinstance(keys, PostgresKeyStore):
        keys.close()
