"""Key stores: each subject's wrapped data key beside the user-id mapping, on SQLite or PostgreSQL.

Erasing a subject deletes its one row: the key and the only link from the
app's user id to the subject id go together. SQLite keeps the keys in a file
of their own with ``secure_delete`` on, so a deleted key is overwritten in
place; PostgreSQL keeps them in their own schema. See docs/privacy.md for what
deletion does and does not reach (write-ahead logs, backups). Wrapping,
caching and master-key and root rotation are the same on both
(adapters.encryption.subject_keys); these classes run its SQL. The one-row
table ``key_store_id`` holds the store's random id, its fingerprint
(adapters.encryption.key_check).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg

from adapters.connections import array_literal, run_statement, small_pool
from adapters.encryption.subject_keys import KEY_CACHE_SECONDS, REWRAP_PAGE, CachingKeyStore, Rewrap
from application.errors import StorageError
from application.ports import SubjectKeys

__all__ = ["PostgresKeyStore", "SqliteKeyStore"]

_REWRITABLE = frozenset({"wrapped_key", "lookup_hash"})  # what a rotation rewrites (master key, root secret)


class SqliteKeyStore(CachingKeyStore, SubjectKeys):
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
            db.execute("CREATE TABLE IF NOT EXISTS key_store_id (id INTEGER PRIMARY KEY CHECK (id = 1), store_id TEXT)")
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

    def _init_store_id(self, candidate: str) -> str:
        with self._tx() as db:
            db.execute("INSERT INTO key_store_id (id, store_id) VALUES (1, ?) ON CONFLICT DO NOTHING", (candidate,))
            (stored,) = db.execute("SELECT store_id FROM key_store_id WHERE id = 1").fetchone()
        return str(stored)

    def _rewrite_all(self, column: str, rewrite: Rewrap, rewrite_root: Callable[[bytes], bytes]) -> tuple[int, bytes]:
        assert column in _REWRITABLE
        with self._tx() as db:  # BEGIN IMMEDIATE: writers in every process wait until the commit
            (wrapped_root,) = db.execute("SELECT wrapped_root FROM key_store_meta WHERE id = 1").fetchone()
            new_root = rewrite_root(bytes(wrapped_root))
            count, after = 0, ""
            page = f"SELECT subject_id, {column} FROM subject_keys WHERE subject_id > ? ORDER BY subject_id LIMIT ?"
            while rows := db.execute(page, (after, REWRAP_PAGE)).fetchall():
                rewritten = [(rewrite(UUID(subject), bytes(value)), subject) for subject, value in rows]
                db.executemany(f"UPDATE subject_keys SET {column} = ? WHERE subject_id = ?", rewritten)
                count, after = count + len(rows), rows[-1][0]
            db.execute("UPDATE key_store_meta SET wrapped_root = ?, rotated_at = CURRENT_TIMESTAMP", (new_root,))
        return count, new_root

    def _find_subject(self, digest: bytes) -> UUID | None:
        found = self._one("SELECT subject_id FROM subject_keys WHERE lookup_hash=?", (digest,))
        return None if found is None else UUID(found)

    def _find_subjects(self, digests: list[bytes]) -> dict[bytes, tuple[UUID, bytes]]:
        found: dict[bytes, tuple[UUID, bytes]] = {}
        with self._tx() as db:
            for start in range(0, len(digests), 500):
                chunk = digests[start : start + 500]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT lookup_hash, subject_id, wrapped_key FROM subject_keys WHERE lookup_hash IN ({marks})"
                rows = db.execute(sql, chunk).fetchall()
                found.update((bytes(digest), (UUID(subject), bytes(key))) for digest, subject, key in rows)
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

    def _insert_many(self, rows: list[tuple[bytes, UUID, bytes]], generation: bytes) -> dict[bytes, UUID]:
        found: dict[bytes, UUID] = {}
        with self._tx() as db:
            if db.execute("SELECT 1 FROM key_store_meta WHERE wrapped_root = ?", (generation,)).fetchone() is None:
                return found
            db.executemany(
                "INSERT INTO subject_keys (lookup_hash, subject_id, wrapped_key) VALUES (?, ?, ?) "
                "ON CONFLICT (lookup_hash) DO NOTHING",
                [(digest, str(subject), wrapped) for digest, subject, wrapped in rows],
            )
            digests = [digest for digest, _, _ in rows]
            for start in range(0, len(digests), 500):
                chunk = digests[start : start + 500]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT lookup_hash, subject_id FROM subject_keys WHERE lookup_hash IN ({marks})"
                found.update((bytes(digest), UUID(subject)) for digest, subject in db.execute(sql, chunk).fetchall())
        return found

    def _find_wrapped(self, subject_id: UUID) -> bytes | None:
        found = self._one("SELECT wrapped_key FROM subject_keys WHERE subject_id=?", (str(subject_id),))
        return None if found is None else bytes(found)

    def _find_wrapped_many(self, subject_ids: list[UUID]) -> dict[UUID, bytes]:
        found: dict[UUID, bytes] = {}
        with self._tx() as db:
            for start in range(0, len(subject_ids), 500):
                chunk = [str(s) for s in subject_ids[start : start + 500]]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT subject_id, wrapped_key FROM subject_keys WHERE subject_id IN ({marks})"
                found.update((UUID(subject), bytes(wrapped)) for subject, wrapped in db.execute(sql, chunk).fetchall())
        return found

    def _delete(self, subject_id: UUID) -> bool:
        with self._tx() as db:
            deleted = db.execute("DELETE FROM subject_keys WHERE subject_id=?", (str(subject_id),)).rowcount
        return bool(deleted)

    def _count(self) -> int:
        return int(self._one("SELECT count(*) FROM subject_keys", ()))


class PostgresKeyStore(CachingKeyStore, SubjectKeys):
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
        self._id_table = f"{schema}.key_store_id"
        try:
            self._run(
                lambda c: c.execute(
                    f"CREATE SCHEMA IF NOT EXISTS {schema};"
                    f"CREATE TABLE IF NOT EXISTS {self._table} ("
                    " lookup_hash bytea PRIMARY KEY, subject_id uuid NOT NULL UNIQUE,"
                    " wrapped_key bytea NOT NULL, created_at timestamptz DEFAULT now());"
                    f"CREATE TABLE IF NOT EXISTS {self._meta} ("
                    " id int PRIMARY KEY CHECK (id = 1), wrapped_root bytea NOT NULL, rotated_at timestamptz);"
                    f"CREATE TABLE IF NOT EXISTS {self._id_table} (id int PRIMARY KEY CHECK (id = 1), store_id text)"
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
        return bytes(self._one_row_value(self._meta, "wrapped_root", wrapped_root))

    def _init_store_id(self, candidate: str) -> str:
        return str(self._one_row_value(self._id_table, "store_id", candidate))

    def _one_row_value(self, table: str, column: str, value: Any) -> Any:
        """Store ``value`` in the one-row ``table`` unless a value is stored already; the one stored."""

        def insert(cur: psycopg.Cursor[Any]) -> Any:
            cur.execute(f"INSERT INTO {table} (id, {column}) VALUES (1, %s) ON CONFLICT DO NOTHING", (value,))
            row = cur.execute(f"SELECT {column} FROM {table} WHERE id = 1").fetchone()
            assert row is not None
            return row[0]

        return self._run(insert)

    def _rewrite_all(self, column: str, rewrite: Rewrap, rewrite_root: Callable[[bytes], bytes]) -> tuple[int, bytes]:
        assert column in _REWRITABLE

        def rotate(cur: psycopg.Cursor[Any]) -> tuple[int, bytes]:
            # EXCLUSIVE lets readers on (lookups, unwrapping) and makes inserts and deletes wait
            # for the commit; an insert that then finds another wrapped root is refused.
            cur.execute(f"LOCK TABLE {self._table}, {self._meta} IN EXCLUSIVE MODE")
            row = cur.execute(f"SELECT wrapped_root FROM {self._meta} WHERE id = 1").fetchone()
            assert row is not None
            new_root = rewrite_root(bytes(row[0]))
            count, after = 0, UUID(int=0)
            page = f"SELECT subject_id, {column} FROM {self._table} WHERE subject_id > %s ORDER BY subject_id LIMIT %s"
            while rows := cur.execute(page, (after, REWRAP_PAGE)).fetchall():
                subjects = [subject for subject, _ in rows]
                rewritten = [rewrite(subject, bytes(value)) for subject, value in rows]
                cur.execute(
                    f"UPDATE {self._table} AS k SET {column} = v.w"
                    " FROM unnest(%s::uuid[], %s::bytea[]) AS v(s, w) WHERE k.subject_id = v.s",
                    (subjects, rewritten),
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

    def _find_subjects(self, digests: list[bytes]) -> dict[bytes, tuple[UUID, bytes]]:
        def query(cur: psycopg.Cursor[Any]) -> dict[bytes, tuple[UUID, bytes]]:
            cur.execute(
                f"SELECT lookup_hash, subject_id, wrapped_key FROM {self._table} WHERE lookup_hash = ANY(%s::bytea[])",
                (array_literal(digests),),
            )
            return {bytes(digest): (subject, bytes(key)) for digest, subject, key in cur.fetchall()}

        found: dict[bytes, tuple[UUID, bytes]] = self._read(query)
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

    def _insert_many(self, rows: list[tuple[bytes, UUID, bytes]], generation: bytes) -> dict[bytes, UUID]:
        digests = array_literal(digest for digest, _, _ in rows)

        def upsert(cur: psycopg.Cursor[Any]) -> dict[bytes, UUID]:
            # Waits while a rotation holds the lock, then sees the root it committed (as _insert).
            cur.execute(
                f"INSERT INTO {self._table} (lookup_hash, subject_id, wrapped_key)"
                " SELECT * FROM unnest(%s::bytea[], %s::uuid[], %s::bytea[])"
                f" WHERE EXISTS (SELECT 1 FROM {self._meta} WHERE wrapped_root = %s)"
                " ON CONFLICT (lookup_hash) DO NOTHING",
                (
                    digests,
                    array_literal(subject for _, subject, _ in rows),
                    array_literal(wrapped for _, _, wrapped in rows),
                    generation,
                ),
            )
            cur.execute(
                f"SELECT lookup_hash, subject_id FROM {self._table} WHERE lookup_hash = ANY(%s::bytea[])", (digests,)
            )
            return {bytes(digest): UUID(str(subject)) for digest, subject in cur.fetchall()}

        result: dict[bytes, UUID] = self._run(upsert)
        return result

    def _find_wrapped(self, subject_id: UUID) -> bytes | None:
        found = self._fetch(f"SELECT wrapped_key FROM {self._table} WHERE subject_id=%s", (subject_id,))
        return None if found is None else bytes(found)

    def _find_wrapped_many(self, subject_ids: list[UUID]) -> dict[UUID, bytes]:
        def query(cur: psycopg.Cursor[Any]) -> dict[UUID, bytes]:
            cur.execute(
                f"SELECT subject_id, wrapped_key FROM {self._table} WHERE subject_id = ANY(%s::uuid[])",
                (array_literal(subject_ids),),
            )
            return {subject: bytes(wrapped) for subject, wrapped in cur.fetchall()}

        found: dict[UUID, bytes] = self._read(query)
        return found

    def _delete(self, subject_id: UUID) -> bool:
        return bool(
            self._run(lambda c: c.execute(f"DELETE FROM {self._table} WHERE subject_id=%s", (subject_id,)).rowcount)
        )

    def _count(self) -> int:
        return int(self._fetch(f"SELECT count(*) FROM {self._table}", ()))

    def close(self) -> None:
        self._pool.close()
