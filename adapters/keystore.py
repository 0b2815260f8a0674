"""Key stores: each subject's data key, wrapped by the master key, beside the user-id mapping.

Erasing a subject deletes its one row: the key and the only link from the
app's user id to the subject id go together. SQLite keeps the keys in a file
of their own with ``secure_delete`` on, so a deleted key is overwritten in
place; PostgreSQL keeps them in their own schema. See docs/privacy.md for what
deletion does and does not reach (write-ahead logs, backups).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import psycopg
import psycopg_pool

from adapters.crypto import Tampered, lookup_hash, new_data_key, seal, unseal
from application.ports import StorageError

__all__ = ["KEY_CACHE_SECONDS", "PostgresKeyStore", "SqliteKeyStore"]

_WRAP_CONTEXT: Final = b"addvalue/data-key/v1:"
KEY_CACHE_SECONDS: Final = 30.0
KEY_CACHE_SIZE: Final = 200_000


class _CachingKeyStore:
    """Wrapping, caching and the use cases' API; subclasses run the SQL."""

    def __init__(self, master_key: bytes, *, cache_seconds: float = KEY_CACHE_SECONDS) -> None:
        self._master = master_key
        # Unwrapped keys, each with the time it was read. An erasure by another
        # process reaches this one within cache_seconds; by this process, at once.
        self._cache: dict[UUID, tuple[bytes, float]] = {}
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()

    # -- SubjectKeys port --------------------------------------------------
    def subject_for(self, app_user_id: UUID, *, create: bool) -> UUID | None:
        digest = lookup_hash(self._master, app_user_id.bytes)
        found = self._find_subject(digest)
        if found is not None or not create:
            return found
        subject_id, key = uuid.uuid4(), new_data_key()
        return self._insert(digest, subject_id, self._wrap(subject_id, key))

    def subjects_for(self, app_user_ids: Iterable[UUID]) -> dict[UUID, UUID]:
        by_digest = {lookup_hash(self._master, u.bytes): u for u in set(app_user_ids)}
        found = self._find_subjects(list(by_digest))
        return {by_digest[digest]: subject for digest, subject in found.items()}

    def orphan_subject(self) -> UUID:
        # A random lookup hash: no user id hashes to it, so nothing links to this subject.
        subject_id, key = uuid.uuid4(), new_data_key()
        return self._insert(os.urandom(32), subject_id, self._wrap(subject_id, key))

    def data_key(self, subject_id: UUID) -> bytes | None:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(subject_id)
        if cached is not None and now - cached[1] < self._cache_seconds:
            return cached[0]
        wrapped = self._find_wrapped(subject_id)
        if wrapped is None:
            with self._lock:
                self._cache.pop(subject_id, None)
            return None
        key = self._unwrap(subject_id, wrapped)
        with self._lock:
            if len(self._cache) >= KEY_CACHE_SIZE:
                self._cache.clear()  # bounded; refilled on demand
            self._cache[subject_id] = (key, now)
        return key

    def erase(self, subject_id: UUID) -> bool:
        with self._lock:
            self._cache.pop(subject_id, None)
        return self._delete(subject_id)

    def count(self) -> int:
        return self._count()

    # -- wrapping ------------------------------------------------------------
    def _wrap(self, subject_id: UUID, key: bytes) -> bytes:
        return seal(self._master, key, _WRAP_CONTEXT + subject_id.bytes)

    def _unwrap(self, subject_id: UUID, wrapped: bytes) -> bytes:
        try:
            return unseal(self._master, wrapped, _WRAP_CONTEXT + subject_id.bytes)
        except Tampered:
            raise StorageError(
                f"the data key of subject {subject_id} does not open with this master key: "
                "ADDVALUE_MASTER_KEY differs from the one the keys were written with, or the row was altered"
            ) from None

    # -- SQL, per database -----------------------------------------------------
    def _find_subject(self, digest: bytes) -> UUID | None:
        raise NotImplementedError

    def _find_subjects(self, digests: list[bytes]) -> dict[bytes, UUID]:
        raise NotImplementedError

    def _insert(self, digest: bytes, subject_id: UUID, wrapped: bytes) -> UUID:
        raise NotImplementedError

    def _find_wrapped(self, subject_id: UUID) -> bytes | None:
        raise NotImplementedError

    def _delete(self, subject_id: UUID) -> bool:
        raise NotImplementedError

    def _count(self) -> int:
        raise NotImplementedError


class SqliteKeyStore(_CachingKeyStore):
    def __init__(self, path: Path, master_key: bytes, *, cache_seconds: float = KEY_CACHE_SECONDS) -> None:
        super().__init__(master_key, cache_seconds=cache_seconds)
        self._path = path
        self._local = threading.local()
        with self._tx() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS subject_keys ("
                " lookup_hash BLOB PRIMARY KEY, subject_id TEXT NOT NULL UNIQUE,"
                " wrapped_key BLOB NOT NULL, created_at TEXT DEFAULT CURRENT_TIMESTAMP)"
            )

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self._path, timeout=30, isolation_level=None)
            # Overwrite deleted keys in the file itself, and keep no WAL copy of them.
            db.execute("PRAGMA secure_delete=ON")
            db.execute("PRAGMA journal_mode=DELETE")
            self._local.db = db
        try:
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except sqlite3.Error as e:
            db.execute("ROLLBACK") if db.in_transaction else None
            raise StorageError(f"key store {self._path}: {e}") from e

    def _one(self, sql: str, params: tuple[Any, ...]) -> Any:
        with self._tx() as db:
            row = db.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def _find_subject(self, digest: bytes) -> UUID | None:
        found = self._one("SELECT subject_id FROM subject_keys WHERE lookup_hash=?", (digest,))
        return None if found is None else UUID(found)

    def _find_subjects(self, digests: list[bytes]) -> dict[bytes, UUID]:
        found: dict[bytes, UUID] = {}
        with self._tx() as db:
            for start in range(0, len(digests), 500):
                chunk = digests[start : start + 500]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT lookup_hash, subject_id FROM subject_keys WHERE lookup_hash IN ({marks})"
                rows = db.execute(sql, chunk).fetchall()
                found.update((bytes(digest), UUID(subject)) for digest, subject in rows)
        return found

    def _insert(self, digest: bytes, subject_id: UUID, wrapped: bytes) -> UUID:
        with self._tx() as db:
            db.execute(
                "INSERT INTO subject_keys (lookup_hash, subject_id, wrapped_key) VALUES (?,?,?) "
                "ON CONFLICT (lookup_hash) DO NOTHING",
                (digest, str(subject_id), wrapped),
            )
            row = db.execute("SELECT subject_id FROM subject_keys WHERE lookup_hash=?", (digest,)).fetchone()
        return UUID(row[0])

    def _find_wrapped(self, subject_id: UUID) -> bytes | None:
        found = self._one("SELECT wrapped_key FROM subject_keys WHERE subject_id=?", (str(subject_id),))
        return None if found is None else bytes(found)

    def _delete(self, subject_id: UUID) -> bool:
        with self._tx() as db:
            deleted = db.execute("DELETE FROM subject_keys WHERE subject_id=?", (str(subject_id),)).rowcount
        return bool(deleted)

    def _count(self) -> int:
        return int(self._one("SELECT count(*) FROM subject_keys", ()))


class PostgresKeyStore(_CachingKeyStore):
    """Keys in schema ``addvalue_keys``, so a backup policy can treat them apart."""

    def __init__(
        self,
        conninfo: str,
        master_key: bytes,
        *,
        schema: str = "addvalue_keys",
        cache_seconds: float = KEY_CACHE_SECONDS,
    ) -> None:
        super().__init__(master_key, cache_seconds=cache_seconds)
        # Short waits and a check before use, as for the event store (see adapters.persistence).
        self._pool = psycopg_pool.ConnectionPool(
            conninfo, min_size=1, max_size=4, open=True, timeout=2.0, check=psycopg_pool.ConnectionPool.check_connection
        )
        self._table = f"{schema}.subject_keys"
        self._run(
            lambda c: c.execute(
                f"CREATE SCHEMA IF NOT EXISTS {schema};"
                f"CREATE TABLE IF NOT EXISTS {self._table} ("
                " lookup_hash bytea PRIMARY KEY, subject_id uuid NOT NULL UNIQUE,"
                " wrapped_key bytea NOT NULL, created_at timestamptz DEFAULT now())"
            )
        )

    def _run(self, work: Callable[[psycopg.Cursor[Any]], Any]) -> Any:
        try:
            with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                return work(cur)
        except psycopg.Error as e:
            raise StorageError(f"key store: {e}") from e

    def _fetch(self, sql: str, params: tuple[Any, ...]) -> Any:
        def query(cur: psycopg.Cursor[Any]) -> Any:
            row = cur.execute(sql, params).fetchone()
            return None if row is None else row[0]

        return self._run(query)

    def _find_subject(self, digest: bytes) -> UUID | None:
        found: UUID | None = self._fetch(f"SELECT subject_id FROM {self._table} WHERE lookup_hash=%s", (digest,))
        return found

    def _find_subjects(self, digests: list[bytes]) -> dict[bytes, UUID]:
        def query(cur: psycopg.Cursor[Any]) -> dict[bytes, UUID]:
            cur.execute(f"SELECT lookup_hash, subject_id FROM {self._table} WHERE lookup_hash = ANY(%s)", (digests,))
            return {bytes(digest): subject for digest, subject in cur.fetchall()}

        found: dict[bytes, UUID] = self._run(query)
        return found

    def _insert(self, digest: bytes, subject_id: UUID, wrapped: bytes) -> UUID:
        def upsert(cur: psycopg.Cursor[Any]) -> UUID:
            cur.execute(
                f"INSERT INTO {self._table} (lookup_hash, subject_id, wrapped_key) VALUES (%s,%s,%s) "
                "ON CONFLICT (lookup_hash) DO NOTHING",
                (digest, subject_id, wrapped),
            )
            row = cur.execute(f"SELECT subject_id FROM {self._table} WHERE lookup_hash=%s", (digest,)).fetchone()
            assert row is not None
            return UUID(str(row[0]))

        result: UUID = self._run(upsert)
        return result

    def _find_wrapped(self, subject_id: UUID) -> bytes | None:
        found = self._fetch(f"SELECT wrapped_key FROM {self._table} WHERE subject_id=%s", (subject_id,))
        return None if found is None else bytes(found)

    def _delete(self, subject_id: UUID) -> bool:
        return bool(
            self._run(lambda c: c.execute(f"DELETE FROM {self._table} WHERE subject_id=%s", (subject_id,)).rowcount)
        )

    def _count(self) -> int:
        return int(self._fetch(f"SELECT count(*) FROM {self._table}", ()))

    def close(self) -> None:
        self._pool.close()
