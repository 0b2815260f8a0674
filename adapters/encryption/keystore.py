"""Key stores: each subject's data key, wrapped by the master key, beside the user-id mapping.

Erasing a subject deletes its one row: the key and the only link from the
app's user id to the subject id go together. SQLite keeps the keys in a file
of their own with ``secure_delete`` on, so a deleted key is overwritten in
place; PostgreSQL keeps them in their own schema. See docs/privacy.md for what
deletion does and does not reach (write-ahead logs, backups).

The master key also wraps one *root secret*, kept in a one-row meta table. The
lookup digests and ``derived_secret`` are keyed by the root, not by the master
key, so ``rotate_master`` can replace the master key without breaking lookups:
the app's user ids are never stored, so their digests could not be computed
again. A store made before rotation existed keyed its digests by the master key
itself, so that key became its root; new stores start the same way. Opening the
wrapped root at start is the key check: with a wrong master key, AES-GCM fails
there, before any data key is read.
"""

from __future__ import annotations

import hmac
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

import msgspec
import psycopg

from adapters.connections import run_statement, small_pool
from adapters.encryption.envelope import KEY_BYTES, Tampered, derive, lookup_hash, new_data_key, seal, unseal
from application.errors import StorageError
from application.ports import SubjectKeys

__all__ = ["KEY_CACHE_SECONDS", "MasterKeyMismatch", "PostgresKeyStore", "RotationReport", "SqliteKeyStore"]

_WRAP_CONTEXT: Final = b"addvalue/data-key/v1:"
_ROOT_CONTEXT: Final = b"addvalue/root-secret/v1"
_PAGE: Final = 2_000  # keys rewrapped per statement during a rotation
KEY_CACHE_SECONDS: Final = 30.0
KEY_CACHE_SIZE: Final = 200_000
_MISMATCH: Final = (
    "the master key does not match this key store: ADDVALUE_MASTER_KEY must be the key the store was created "
    "with or, after `addvalue keys rotate-master`, the new key (ADDVALUE_NEW_MASTER_KEY of that run)"
)
_ROTATED: Final = (
    "the master key of this key store was rotated after this process started: "
    "set ADDVALUE_MASTER_KEY to the new key and restart"
)

Rewrap = Callable[[UUID, bytes], bytes]


class MasterKeyMismatch(StorageError):
    """The configured master key does not open this key store (wrong key, or rotated since start)."""


class RotationReport(msgspec.Struct, frozen=True, kw_only=True):
    """What ``rotate_master`` did: how many data keys it rewrapped, in how many seconds (one transaction)."""

    keys_rewrapped: int
    seconds: float


def _check_master(key: bytes) -> None:
    if len(key) != KEY_BYTES:
        raise ValueError(f"a master key is {KEY_BYTES} bytes, got {len(key)}")


def _opens(key: bytes, sealed: bytes, associated_data: bytes) -> bool:
    try:
        unseal(key, sealed, associated_data)
    except Tampered:
        return False
    return True


def _open_root(master_key: bytes, wrapped_root: bytes) -> bytes:
    try:
        return unseal(master_key, wrapped_root, _ROOT_CONTEXT)
    except Tampered:
        raise MasterKeyMismatch(_MISMATCH) from None


class _CachingKeyStore:
    """Wrapping, caching, rotation and the use cases' API; subclasses run the SQL."""

    def __init__(self, master_key: bytes, *, cache_seconds: float = KEY_CACHE_SECONDS) -> None:
        _check_master(master_key)
        self._master = master_key
        self._root = b""
        # The wrapped root as stored. Every rotation changes it (a fresh nonce), so an
        # insert that finds it unchanged knows its master key is still the current one.
        self._generation = b""
        # Unwrapped keys, each with the time it was read. An erasure by another
        # process reaches this one within cache_seconds; by this process, at once.
        self._cache: dict[UUID, tuple[bytes, float]] = {}
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()

    def _open(self) -> None:
        """Open the root secret, creating it for a store without one; a wrong master key fails here."""
        wrapped = self._read_root()
        if wrapped is None:
            first = self._first_key()
            if first is not None and not _opens(self._master, first[1], _WRAP_CONTEXT + first[0].bytes):
                raise MasterKeyMismatch(_MISMATCH)  # else this wrong key would become the root for good
            wrapped = self._init_root(seal(self._master, self._master, _ROOT_CONTEXT))
        self._root, self._generation = _open_root(self._master, wrapped), wrapped

    # -- SubjectKeys port --------------------------------------------------
    def subject_for(self, app_user_id: UUID, *, create: bool) -> UUID | None:
        digest = lookup_hash(self._root, app_user_id.bytes)
        found = self._find_subject(digest)
        if found is not None or not create:
            return found
        subject_id, key = uuid.uuid4(), new_data_key()
        return self._insert_current(digest, subject_id, key)

    def subjects_for(self, app_user_ids: Iterable[UUID]) -> dict[UUID, UUID]:
        by_digest = {lookup_hash(self._root, u.bytes): u for u in set(app_user_ids)}
        found = self._find_subjects(list(by_digest))
        return {by_digest[digest]: subject for digest, subject in found.items()}

    def orphan_subject(self) -> UUID:
        # A random lookup hash: no user id hashes to it, so nothing links to this subject.
        return self._insert_current(os.urandom(32), uuid.uuid4(), new_data_key())

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

    # -- root secret and rotation --------------------------------------------
    def derived_secret(self, purpose: bytes) -> bytes:
        """A 32-byte key for one purpose, ``HMAC-SHA256(root secret, purpose)``: the same across rotations.

        For a store made before rotation existed (and a new one) the root is the
        first master key, so this equals ``HMAC-SHA256(master key, purpose)``.
        Give each use its own ``purpose``.
        """
        return derive(self._root, purpose)

    def rotate_master(self, new_master_key: bytes) -> RotationReport:
        """Rewrap every data key and the root secret under ``new_master_key``, in one transaction.

        Writers wait meanwhile; readers go on. Lookups, derived secrets and cached
        keys do not change. From then on only the new key opens this store: a
        process started with the old one fails at start (``MasterKeyMismatch``).
        """
        _check_master(new_master_key)
        if hmac.compare_digest(new_master_key, self._master):
            raise ValueError("the new master key is the current one: generate a new one")
        started, old = time.monotonic(), self._master

        def rewrap(subject_id: UUID, wrapped: bytes) -> bytes:
            return seal(new_master_key, self._unwrap(subject_id, wrapped), _WRAP_CONTEXT + subject_id.bytes)

        def rewrap_root(wrapped: bytes) -> bytes:
            return seal(new_master_key, _open_root(old, wrapped), _ROOT_CONTEXT)

        count, generation = self._rewrap_all(rewrap, rewrap_root)
        with self._lock:
            self._master, self._generation = new_master_key, generation
        return RotationReport(keys_rewrapped=count, seconds=round(time.monotonic() - started, 3))

    # -- wrapping ------------------------------------------------------------
    def _insert_current(self, digest: bytes, subject_id: UUID, key: bytes) -> UUID:
        wrapped = seal(self._master, key, _WRAP_CONTEXT + subject_id.bytes)
        stored = self._insert(digest, subject_id, wrapped, self._generation)
        if stored is None:  # refused: a key wrapped by a retired master key would be lost with it
            raise MasterKeyMismatch(_ROTATED)
        return stored

    def _unwrap(self, subject_id: UUID, wrapped: bytes) -> bytes:
        try:
            return unseal(self._master, wrapped, _WRAP_CONTEXT + subject_id.bytes)
        except Tampered:
            raise StorageError(
                f"the data key of subject {subject_id} does not open with this master key: "
                "ADDVALUE_MASTER_KEY differs from the one the keys were written or last rotated with "
                "(after a rotation, restart with the new key), or the row was altered"
            ) from None

    # -- SQL, per database -----------------------------------------------------
    def _read_root(self) -> bytes | None:
        raise NotImplementedError

    def _first_key(self) -> tuple[UUID, bytes] | None:
        raise NotImplementedError

    def _init_root(self, wrapped_root: bytes) -> bytes:
        """Store ``wrapped_root`` unless a root is stored already; the one stored."""
        raise NotImplementedError

    def _rewrap_all(self, rewrap: Rewrap, rewrap_root: Callable[[bytes], bytes]) -> tuple[int, bytes]:
        """In one transaction that keeps writers out: every key and the root; (keys, new wrapped root)."""
        raise NotImplementedError

    def _find_subject(self, digest: bytes) -> UUID | None:
        raise NotImplementedError

    def _find_subjects(self, digests: list[bytes]) -> dict[bytes, UUID]:
        raise NotImplementedError

    def _insert(self, digest: bytes, subject_id: UUID, wrapped: bytes, generation: bytes) -> UUID | None:
        """The subject stored for ``digest``; None if the stored root is no longer ``generation``."""
        raise NotImplementedError

    def _find_wrapped(self, subject_id: UUID) -> bytes | None:
        raise NotImplementedError

    def _delete(self, subject_id: UUID) -> bool:
        raise NotImplementedError

    def _count(self) -> int:
        raise NotImplementedError


class SqliteKeyStore(_CachingKeyStore, SubjectKeys):
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
            db.execute(
                "CREATE TABLE IF NOT EXISTS key_store_meta ("
                " id INTEGER PRIMARY KEY CHECK (id = 1), wrapped_root BLOB NOT NULL, rotated_at TEXT)"
            )
        self._open()

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
        except BaseException:
            db.execute("ROLLBACK") if db.in_transaction else None
            raise

    def _one(self, sql: str, params: tuple[Any, ...]) -> Any:
        with self._tx() as db:
            row = db.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def _read_root(self) -> bytes | None:
        found = self._one("SELECT wrapped_root FROM key_store_meta WHERE id = 1", ())
        return None if found is None else bytes(found)

    def _first_key(self) -> tuple[UUID, bytes] | None:
        with self._tx() as db:
            row = db.execute("SELECT subject_id, wrapped_key FROM subject_keys LIMIT 1").fetchone()
        return None if row is None else (UUID(row[0]), bytes(row[1]))

    def _init_root(self, wrapped_root: bytes) -> bytes:
        with self._tx() as db:
            db.execute(
                "INSERT INTO key_store_meta (id, wrapped_root) VALUES (1, ?) ON CONFLICT DO NOTHING", (wrapped_root,)
            )
            (stored,) = db.execute("SELECT wrapped_root FROM key_store_meta WHERE id = 1").fetchone()
        return bytes(stored)

    def _rewrap_all(self, rewrap: Rewrap, rewrap_root: Callable[[bytes], bytes]) -> tuple[int, bytes]:
        with self._tx() as db:  # BEGIN IMMEDIATE: writers in every process wait until the commit
            (wrapped_root,) = db.execute("SELECT wrapped_root FROM key_store_meta WHERE id = 1").fetchone()
            new_root = rewrap_root(bytes(wrapped_root))
            count, after = 0, ""
            page = "SELECT subject_id, wrapped_key FROM subject_keys WHERE subject_id > ? ORDER BY subject_id LIMIT ?"
            while rows := db.execute(page, (after, _PAGE)).fetchall():
                rewrapped = [(rewrap(UUID(subject), bytes(wrapped)), subject) for subject, wrapped in rows]
                db.executemany("UPDATE subject_keys SET wrapped_key = ? WHERE subject_id = ?", rewrapped)
                count, after = count + len(rows), rows[-1][0]
            db.execute("UPDATE key_store_meta SET wrapped_root = ?, rotated_at = CURRENT_TIMESTAMP", (new_root,))
        return count, new_root

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

    def _insert(self, digest: bytes, subject_id: UUID, wrapped: bytes, generation: bytes) -> UUID | None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO subject_keys (lookup_hash, subject_id, wrapped_key) SELECT ?, ?, ? "
                "WHERE EXISTS (SELECT 1 FROM key_store_meta WHERE wrapped_root = ?) "
                "ON CONFLICT (lookup_hash) DO NOTHING",
                (digest, str(subject_id), wrapped, generation),
            )
            row = db.execute("SELECT subject_id FROM subject_keys WHERE lookup_hash=?", (digest,)).fetchone()
        return None if row is None else UUID(row[0])

    def _find_wrapped(self, subject_id: UUID) -> bytes | None:
        found = self._one("SELECT wrapped_key FROM subject_keys WHERE subject_id=?", (str(subject_id),))
        return None if found is None else bytes(found)

    def _delete(self, subject_id: UUID) -> bool:
        with self._tx() as db:
            deleted = db.execute("DELETE FROM subject_keys WHERE subject_id=?", (str(subject_id),)).rowcount
        return bool(deleted)

    def _count(self) -> int:
        return int(self._one("SELECT count(*) FROM subject_keys", ()))


class PostgresKeyStore(_CachingKeyStore, SubjectKeys):
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
        # Short waits and a check before use, as for the event store (see adapters.eventstore.persistence).
        self._pool = small_pool(conninfo, max_size=2)
        self._table, self._meta = f"{schema}.subject_keys", f"{schema}.key_store_meta"
        try:
            self._run(
                lambda c: c.execute(
                    f"CREATE SCHEMA IF NOT EXISTS {schema};"
                    f"CREATE TABLE IF NOT EXISTS {self._table} ("
                    " lookup_hash bytea PRIMARY KEY, subject_id uuid NOT NULL UNIQUE,"
                    " wrapped_key bytea NOT NULL, created_at timestamptz DEFAULT now());"
                    f"CREATE TABLE IF NOT EXISTS {self._meta} ("
                    " id int PRIMARY KEY CHECK (id = 1), wrapped_root bytea NOT NULL, rotated_at timestamptz)"
                )
            )
            self._open()
        except BaseException:
            self._pool.close()
            raise

    def _run(self, work: Callable[[psycopg.Cursor[Any]], Any]) -> Any:
        try:
            with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                return work(cur)
        except psycopg.Error as e:
            raise StorageError(f"key store: {e}") from e

    def _read(self, work: Callable[[psycopg.Cursor[Any]], Any]) -> Any:
        """One read statement without BEGIN and COMMIT around it: the subject lookup of every write."""
        return run_statement(self._pool, "key store", lambda conn: work(conn.cursor()))

    def _fetch(self, sql: str, params: tuple[Any, ...]) -> Any:
        def query(cur: psycopg.Cursor[Any]) -> Any:
            row = cur.execute(sql, params).fetchone()
            return None if row is None else row[0]

        return self._run(query)

    def _read_root(self) -> bytes | None:
        found = self._fetch(f"SELECT wrapped_root FROM {self._meta} WHERE id = 1", ())
        return None if found is None else bytes(found)

    def _first_key(self) -> tuple[UUID, bytes] | None:
        row = self._run(lambda c: c.execute(f"SELECT subject_id, wrapped_key FROM {self._table} LIMIT 1").fetchone())
        return None if row is None else (row[0], bytes(row[1]))

    def _init_root(self, wrapped_root: bytes) -> bytes:
        def insert(cur: psycopg.Cursor[Any]) -> bytes:
            cur.execute(
                f"INSERT INTO {self._meta} (id, wrapped_root) VALUES (1, %s) ON CONFLICT DO NOTHING", (wrapped_root,)
            )
            row = cur.execute(f"SELECT wrapped_root FROM {self._meta} WHERE id = 1").fetchone()
            assert row is not None
            return bytes(row[0])

        stored: bytes = self._run(insert)
        return stored

    def _rewrap_all(self, rewrap: Rewrap, rewrap_root: Callable[[bytes], bytes]) -> tuple[int, bytes]:
        def rotate(cur: psycopg.Cursor[Any]) -> tuple[int, bytes]:
            # EXCLUSIVE lets readers on (lookups, unwrapping) and makes inserts and deletes wait
            # for the commit; an insert that then finds another wrapped root is refused.
            cur.execute(f"LOCK TABLE {self._table}, {self._meta} IN EXCLUSIVE MODE")
            row = cur.execute(f"SELECT wrapped_root FROM {self._meta} WHERE id = 1").fetchone()
            assert row is not None
            new_root = rewrap_root(bytes(row[0]))
            count, after = 0, UUID(int=0)
            page = (
                f"SELECT subject_id, wrapped_key FROM {self._table} WHERE subject_id > %s ORDER BY subject_id LIMIT %s"
            )
            while rows := cur.execute(page, (after, _PAGE)).fetchall():
                subjects = [subject for subject, _ in rows]
                rewrapped = [rewrap(subject, bytes(wrapped)) for subject, wrapped in rows]
                cur.execute(
                    f"UPDATE {self._table} AS k SET wrapped_key = v.w"
                    " FROM unnest(%s::uuid[], %s::bytea[]) AS v(s, w) WHERE k.subject_id = v.s",
                    (subjects, rewrapped),
                )
                count, after = count + len(rows), subjects[-1]
            cur.execute(f"UPDATE {self._meta} SET wrapped_root = %s, rotated_at = now()", (new_root,))
            return count, new_root

        result: tuple[int, bytes] = self._run(rotate)
        return result

    def _find_subject(self, digest: bytes) -> UUID | None:
        def query(cur: psycopg.Cursor[Any]) -> UUID | None:
            row = cur.execute(f"SELECT subject_id FROM {self._table} WHERE lookup_hash=%s", (digest,)).fetchone()
            return None if row is None else row[0]

        found: UUID | None = self._read(query)  # asked by every per-person API read
        return found

    def _find_subjects(self, digests: list[bytes]) -> dict[bytes, UUID]:
        def query(cur: psycopg.Cursor[Any]) -> dict[bytes, UUID]:
            cur.execute(f"SELECT lookup_hash, subject_id FROM {self._table} WHERE lookup_hash = ANY(%s)", (digests,))
            return {bytes(digest): subject for digest, subject in cur.fetchall()}

        found: dict[bytes, UUID] = self._read(query)
        return found

    def _insert(self, digest: bytes, subject_id: UUID, wrapped: bytes, generation: bytes) -> UUID | None:
        def upsert(cur: psycopg.Cursor[Any]) -> UUID | None:
            # Waits while a rotation holds the lock, then sees the root it committed.
            cur.execute(
                f"INSERT INTO {self._table} (lookup_hash, subject_id, wrapped_key) SELECT %s, %s, %s "
                f"WHERE EXISTS (SELECT 1 FROM {self._meta} WHERE wrapped_root = %s) "
                "ON CONFLICT (lookup_hash) DO NOTHING",
                (digest, subject_id, wrapped, generation),
            )
            row = cur.execute(f"SELECT subject_id FROM {self._table} WHERE lookup_hash=%s", (digest,)).fetchone()
            return None if row is None else UUID(str(row[0]))

        result: UUID | None = self._run(upsert)
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
