"""The register of erasures: who asked to be forgotten, when, and when their key goes.

One row per erased person, found by a keyed hash of their app user id (the
only thing kept once the erasure is complete: enough to recognise their
events arriving later, nothing to recover who they were). While the grace
period runs the row also names the subject, so that the scheduled job can
destroy its key; completing the erasure clears it.

The hash is keyed by the key store's root secrets (application.rechain): under
the first root, then stepped through each later one. Column ``roots`` says how
many roots a row's hash has been stepped through; ``use_roots`` steps the rows
on after ``addvalue keys rotate-root`` (rows from before it have 1).

SQLite: ``addvalue.erasures.db`` beside the event store. PostgreSQL:
``<schema>.erasure_register``.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import psycopg
from psycopg.sql import SQL, Identifier

from adapters.connections import (
    SqliteFile,
    array_literal,
    create_tables,
    postgres_pool,
    run_in_transaction,
    run_statement,
)
from adapters.database_url import Database
from application.privacy.ports import ErasureEntry, ErasureRegister
from application.rechain import chained

__all__ = ["PostgresErasureRegister", "SqliteErasureRegister", "build_erasure_register"]

_WHAT: Final = "erasure register"


_ROOTS_COLUMN: Final = "ALTER TABLE {} ADD COLUMN roots integer NOT NULL DEFAULT 1"  # registers before issue 13


def _hash(secrets: Sequence[bytes], app_user_id: UUID) -> bytes:
    first = hmac.digest(secrets[0], b"addvalue/erasure/v1:" + app_user_id.bytes, "sha256")  # one-shot: C only
    return chained(secrets[1:], first)


def _stepped(secrets: Sequence[bytes], rows: Iterable[tuple[Any, int]]) -> list[tuple[bytes, int, bytes]]:
    """(new hash, roots, old hash) of rows whose hash is behind ``secrets``: stepped through the roots it missed."""
    return [(chained(secrets[roots:], bytes(old)), len(secrets), bytes(old)) for old, roots in rows]


def _checked(secrets: Sequence[bytes]) -> list[bytes]:
    if not secrets:
        raise ValueError("the erasure register needs the secret of at least one root")
    return list(secrets)


def _entry(row: tuple[Any, ...]) -> ErasureEntry:
    requested, due, done, subject = row
    return ErasureEntry(
        requested_at=_aware(requested),
        due_at=_aware(due),
        completed_at=None if done is None else _aware(done),
        subject_id=None if subject is None else UUID(str(subject)),
    )


def _aware(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


class SqliteErasureRegister(ErasureRegister):
    """The register in a SQLite file of its own."""

    def __init__(self, path: Path, secrets: Sequence[bytes]) -> None:
        self._secrets = _checked(secrets)
        self._file = SqliteFile(path, what=_WHAT)
        with self._file.transaction(write=True) as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS erasure_register (user_hash BLOB PRIMARY KEY, requested_at TEXT NOT NULL,"
                " due_at TEXT NOT NULL, completed_at TEXT, subject_id TEXT, roots INTEGER NOT NULL DEFAULT 1)"
            )
            if "roots" not in {c[1] for c in db.execute("PRAGMA table_info(erasure_register)")}:
                db.execute(_ROOTS_COLUMN.format("erasure_register"))
        self.use_roots(secrets)  # rows an interrupted `rotate-root` left behind: else erased people would return

    def use_roots(self, secrets: Sequence[bytes]) -> int:
        self._secrets = _checked(secrets)
        with self._file.transaction(write=True) as db:
            rows = db.execute("SELECT user_hash, roots FROM erasure_register WHERE roots < ?", (len(secrets),))
            stepped = _stepped(self._secrets, rows.fetchall())
            db.executemany("UPDATE erasure_register SET user_hash = ?, roots = ? WHERE user_hash = ?", stepped)
        return len(stepped)

    def add(self, app_user_id: UUID, subject_id: UUID, requested_at: datetime, due_at: datetime) -> ErasureEntry:
        with self._file.transaction(write=True) as db:
            db.execute(
                "INSERT INTO erasure_register VALUES (?, ?, ?, NULL, ?, ?) ON CONFLICT (user_hash) DO NOTHING",
                (
                    _hash(self._secrets, app_user_id),
                    requested_at.isoformat(),
                    due_at.isoformat(),
                    subject_id.hex,
                    len(self._secrets),
                ),
            )
        found = self.find(app_user_id)
        assert found is not None
        return found

    def find(self, app_user_id: UUID) -> ErasureEntry | None:
        with self._file.transaction(write=False) as db:
            row = db.execute(
                "SELECT requested_at, due_at, completed_at, subject_id FROM erasure_register WHERE user_hash = ?",
                (_hash(self._secrets, app_user_id),),
            ).fetchone()
        return None if row is None else _entry(row)

    def blocked(self, app_user_ids: Iterable[UUID]) -> set[UUID]:
        by_hash = {_hash(self._secrets, u): u for u in set(app_user_ids)}
        if not by_hash:
            return set()
        marks = ",".join("?" * len(by_hash))
        with self._file.transaction(write=False) as db:
            rows = db.execute(
                f"SELECT user_hash FROM erasure_register WHERE user_hash IN ({marks})",
                list(by_hash),
            ).fetchall()
        return {by_hash[bytes(r[0])] for r in rows}

    def due(self, now: datetime) -> list[UUID]:
        with self._file.transaction(write=False) as db:
            rows = db.execute(
                "SELECT subject_id FROM erasure_register WHERE completed_at IS NULL AND due_at <= ?",
                (now.isoformat(),),
            ).fetchall()
        return [UUID(r[0]) for r in rows]

    def complete(self, subject_id: UUID, at: datetime) -> None:
        with self._file.transaction(write=True) as db:
            db.execute(
                "UPDATE erasure_register SET completed_at = ?, subject_id = NULL WHERE subject_id = ?",
                (at.isoformat(), subject_id.hex),
            )

    def close(self) -> None:
        self._file.close()


class PostgresErasureRegister(ErasureRegister):
    """The register in ``<schema>.erasure_register``, on the shared pool of the small stores."""

    def __init__(self, url: str, secrets: Sequence[bytes], *, schema: str = "public") -> None:
        self._secrets = _checked(secrets)
        self._table = SQL("{}.erasure_register").format(Identifier(schema))
        # Asked before every per-person read and write: composed once (composing costs more than the lookup).
        self._blocked_one = SQL("SELECT user_hash FROM {} WHERE user_hash = %s").format(self._table).as_bytes()
        self._blocked_any = (
            SQL("SELECT user_hash FROM {} WHERE user_hash = ANY(%s::bytea[])").format(self._table).as_bytes()
        )
        self._pool = postgres_pool(url)
        table = SQL(
            "CREATE TABLE IF NOT EXISTS {} (user_hash bytea PRIMARY KEY, requested_at timestamptz NOT NULL,"
            " due_at timestamptz NOT NULL, completed_at timestamptz, subject_id uuid)"
        ).format(self._table)
        roots = SQL(_ROOTS_COLUMN.replace("ADD COLUMN", "ADD COLUMN IF NOT EXISTS")).format(self._table)
        create_tables(self._pool, _WHAT, "addvalue.erasure_register", schema, table, roots)
        self.use_roots(secrets)  # rows an interrupted `rotate-root` left behind: else erased people would return

    def use_roots(self, secrets: Sequence[bytes]) -> int:
        self._secrets = _checked(secrets)

        def step(conn: psycopg.Connection[tuple[Any, ...]]) -> int:
            select = SQL("SELECT user_hash, roots FROM {} WHERE roots < %s FOR UPDATE").format(self._table)
            stepped = _stepped(self._secrets, conn.execute(select, (len(secrets),)).fetchall())
            update = SQL("UPDATE {} SET user_hash = %s, roots = %s WHERE user_hash = %s").format(self._table)
            with conn.cursor() as cur:
                cur.executemany(update, stepped)
            return len(stepped)

        stepped: int = run_in_transaction(self._pool, _WHAT, step)
        return stepped

    def add(self, app_user_id: UUID, subject_id: UUID, requested_at: datetime, due_at: datetime) -> ErasureEntry:
        run_in_transaction(
            self._pool,
            _WHAT,
            lambda conn: conn.execute(
                SQL("INSERT INTO {} VALUES (%s, %s, %s, NULL, %s, %s) ON CONFLICT (user_hash) DO NOTHING").format(
                    self._table
                ),
                (_hash(self._secrets, app_user_id), requested_at, due_at, subject_id, len(self._secrets)),
            ),
        )
        found = self.find(app_user_id)
        assert found is not None
        return found

    def find(self, app_user_id: UUID) -> ErasureEntry | None:
        row = run_in_transaction(
            self._pool,
            _WHAT,
            lambda conn: conn.execute(
                SQL("SELECT requested_at, due_at, completed_at, subject_id FROM {} WHERE user_hash = %s").format(
                    self._table
                ),
                (_hash(self._secrets, app_user_id),),
            ).fetchone(),
        )
        return None if row is None else _entry(row)

    def blocked(self, app_user_ids: Iterable[UUID]) -> set[UUID]:
        by_hash = {_hash(self._secrets, u): u for u in set(app_user_ids)}
        if not by_hash:
            return set()
        params: tuple[bytes | str]
        if len(by_hash) == 1:  # the API's and one person's batch: no array to send
            query, params = self._blocked_one, (next(iter(by_hash)),)
        else:
            query, params = self._blocked_any, (array_literal(by_hash),)
        rows = run_statement(self._pool, _WHAT, lambda conn: conn.execute(query, params).fetchall())
        return {by_hash[bytes(r[0])] for r in rows}

    def due(self, now: datetime) -> list[UUID]:
        rows = run_in_transaction(
            self._pool,
            _WHAT,
            lambda conn: conn.execute(
                SQL("SELECT subject_id FROM {} WHERE completed_at IS NULL AND due_at <= %s").format(self._table),
                (now,),
            ).fetchall(),
        )
        return [UUID(str(r[0])) for r in rows]

    def complete(self, subject_id: UUID, at: datetime) -> None:
        run_in_transaction(
            self._pool,
            _WHAT,
            lambda conn: conn.execute(
                SQL("UPDATE {} SET completed_at = %s, subject_id = NULL WHERE subject_id = %s").format(self._table),
                (at, subject_id),
            ),
        )

    def close(self) -> None:
        self._pool.close()


def build_erasure_register(db: Database, secrets: Sequence[bytes]) -> SqliteErasureRegister | PostgresErasureRegister:
    """The register beside ``db``'s event store, keyed by ``secrets`` (one per root secret, oldest first)."""
    if db.kind == "sqlite":
        return SqliteErasureRegister(db.sibling("erasures"), secrets)
    return PostgresErasureRegister(db.url, secrets, schema=db.schema)
