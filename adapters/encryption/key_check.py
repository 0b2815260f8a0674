"""The start-up check that the key store holds the keys the event log refers to.

Without it a process started with the key store missing (a restored backup,
which never holds the keys, or a deleted ``addvalue.keys.db``) created an
empty store, showed every event as redacted and gave returning people new
subjects, so restoring the right key store later conflicted: silent total
loss. Now a process refuses to start (:class:`KeyStoreMissing`, exit code 2
from the CLI) when the log holds personal events and the key store

- does not exist: refused before one is created;
- is not the one the event store records (table ``key_store_ref``, written
  at the first start that passes this check; it goes into backups with the
  events);
- for an event store without that record (made before issue 13): holds none
  of the keys of the subjects of the newest personal events (an empty or new
  store, or another deployment's). Subjects whose ``User.Erased`` record is in
  the log are left out: their key is meant to be gone.

Missing keys are not errors in themselves: erasure destroys keys on purpose.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from typing import Any, Final
from uuid import UUID

import psycopg
from eventsourcing.utils import get_topic

from adapters.database_url import Database
from application.errors import StorageError
from domain.user import User

__all__ = [
    "REF_TABLE",
    "KeyStoreMissing",
    "check_key_store_exists",
    "check_keys_cover_log",
    "key_store_exists",
    "key_store_location",
    "key_store_schema",
]

REF_TABLE: Final = "addvalue_key_store_ref"  # in the event store: which key store holds its keys
SAMPLE: Final = 200  # newest personal events whose subjects are looked up at start
_ERASED_TOPIC: Final = get_topic(User.Erased)


class KeyStoreMissing(StorageError):
    """The event store holds personal events, and the key store does not hold their keys."""


def key_store_location(db: Database) -> str:
    """Where the key store is, for messages: a file, or a schema (never the password)."""
    if db.kind == "sqlite":
        return f"the key store file {db.sibling('keys')}"
    return f"the key store schema {key_store_schema(db)!r} in the database of ADDVALUE_DATABASE_URL"


def key_store_schema(db: Database) -> str:
    """PostgreSQL: the key store's own schema, beside the event store's."""
    return "addvalue_keys" if db.schema == "public" else f"{db.schema}_keys"


def check_key_store_exists(db: Database) -> None:
    """Refuse to go on, before a new key store is created, if the log needs the one that is missing."""
    if key_store_exists(db) or not _recent_personal_subjects(db):
        return
    raise KeyStoreMissing(
        f"{key_store_location(db)} does not exist, but the event store holds personal events encrypted under "
        "its keys. Put the key store back (from its own backup) before starting: a new one would show every "
        "event as redacted and give returning people new subjects (docs/privacy.md, Backups)"
    )


def check_keys_cover_log(db: Database, has_key: Callable[[UUID], bool], fingerprint: str) -> None:
    """Refuse if the key store is not the one the event store records, or (no record) holds none of its keys."""
    recorded = _query(db, "SELECT fingerprint FROM {ref}", (), ref_table=True)
    if recorded:
        if recorded[0][0] != fingerprint:
            raise KeyStoreMissing(
                f"the event store's keys are in key store {recorded[0][0]}, but {key_store_location(db)} is key "
                f"store {fingerprint} (empty, new or another deployment's). Put key store {recorded[0][0]} in "
                "place (from its own backup) and start again"
            )
        return
    subjects = _recent_personal_subjects(db)
    if not subjects:
        return  # nothing to protect yet; a later start records the key store
    expected = subjects - _erased(db, subjects)
    if not expected or any(has_key(subject) for subject in expected):
        _record(db, fingerprint)
        return
    raise KeyStoreMissing(
        f"{key_store_location(db)} (key store {fingerprint}) holds none of the keys of the "
        f"{len(expected)} subject(s) of the newest personal events in the event store: it is empty, new or "
        "another deployment's. Put the key store that belongs to this event store in place (a backup's "
        "manifest.json names it as key_store) and start again"
    )


def key_store_exists(db: Database) -> bool:
    """Whether the key store ``db`` names was ever created (opening one creates it)."""
    if db.kind == "sqlite":
        return db.sibling("keys").exists()
    rows = _query(db, "SELECT to_regclass(%s) IS NOT NULL", (f'"{key_store_schema(db)}".key_store_meta',))
    return bool(rows[0][0])


def _recent_personal_subjects(db: Database) -> set[UUID]:
    """The subjects of the newest sealed (format 1 or 2) records; empty for a new or plaintext-only log."""
    if db.kind == "sqlite":
        sql = (
            "SELECT DISTINCT substr(state, 2, 16) FROM (SELECT state FROM stored_events"
            " WHERE substr(state, 1, 1) <> x'00' ORDER BY rowid DESC LIMIT ?)"
        )
    else:
        sql = (
            "SELECT DISTINCT substring(state from 2 for 16) FROM (SELECT state FROM {events}"
            " WHERE get_byte(state, 0) <> 0 ORDER BY notification_id DESC LIMIT %s) AS newest"
        )
    return {UUID(bytes=bytes(row[0])) for row in _query(db, sql, (SAMPLE,), events_table=True)}


def _erased(db: Database, subjects: set[UUID]) -> set[UUID]:
    """Those of ``subjects`` whose ``User.Erased`` record is in the log (a ``User`` stream's id is its subject)."""
    if not subjects:
        return set()
    if db.kind == "sqlite":
        marks = ",".join("?" * len(subjects))
        sql = f"SELECT originator_id FROM stored_events WHERE topic = ? AND originator_id IN ({marks})"
        rows = _query(db, sql, (_ERASED_TOPIC, *(s.hex for s in subjects)), events_table=True)
    else:
        sql = "SELECT originator_id FROM {events} WHERE topic = %s AND originator_id = ANY(%s)"
        rows = _query(db, sql, (_ERASED_TOPIC, list(subjects)), events_table=True)
    return {UUID(str(row[0])) for row in rows}


def _record(db: Database, fingerprint: str) -> None:
    """Note in the event store which key store holds its keys (once; never changed by the service)."""
    if db.kind == "sqlite":
        create = f"CREATE TABLE IF NOT EXISTS {REF_TABLE} (id INTEGER PRIMARY KEY CHECK (id = 1), fingerprint TEXT)"
        insert = f"INSERT INTO {REF_TABLE} (id, fingerprint) VALUES (1, ?) ON CONFLICT DO NOTHING"
    else:
        table = f'"{db.schema}".{REF_TABLE}'
        create = f"CREATE TABLE IF NOT EXISTS {table} (id int PRIMARY KEY CHECK (id = 1), fingerprint text)"
        insert = f"INSERT INTO {table} (id, fingerprint) VALUES (1, %s) ON CONFLICT DO NOTHING"
    try:
        if db.kind == "sqlite":
            assert db.sqlite_path is not None
            with closing(sqlite3.connect(db.sqlite_path, timeout=30)) as conn, conn:
                conn.execute(create)
                conn.execute(insert, (fingerprint,))
            return
        with psycopg.connect(db.url, connect_timeout=10) as pg:
            pg.execute(create)
            pg.execute(insert, (fingerprint,))
    except (sqlite3.Error, psycopg.Error) as e:
        raise StorageError(f"ADDVALUE_DATABASE_URL: cannot record the key store in the event store: {e}") from e


def _query(
    db: Database, sql: str, params: tuple[Any, ...], *, events_table: bool = False, ref_table: bool = False
) -> list[Any]:
    """Rows of one read; none when the event store (or the table read) does not exist yet."""
    table = "stored_events" if events_table else REF_TABLE if ref_table else None
    try:
        if db.kind == "sqlite":
            assert db.sqlite_path is not None
            if not db.sqlite_path.exists():
                return []
            with closing(sqlite3.connect(f"file:{db.sqlite_path}?mode=ro", uri=True, timeout=30)) as conn:
                if table and not _sqlite_has_table(conn, table):
                    return []
                return conn.execute(sql.replace("{ref}", REF_TABLE), params).fetchall()
        with psycopg.connect(db.url, connect_timeout=10) as conn:
            if table:
                qualified = f'"{db.schema}".' + ("addvalue_events" if events_table else REF_TABLE)
                found = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (qualified,)).fetchone()
                if not (found and found[0]):
                    return []
                sql = sql.replace("{events}", qualified).replace("{ref}", qualified)
            return conn.execute(sql, params).fetchall()
    except (sqlite3.Error, psycopg.Error) as e:
        raise StorageError(f"ADDVALUE_DATABASE_URL: cannot check the event store against the key store: {e}") from e


def _sqlite_has_table(conn: sqlite3.Connection, name: str) -> bool:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
    return found is not None
