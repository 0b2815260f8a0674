"""Leases on projections: each read model is written by one process at a time.

Two processes running the same projection would each apply the same events
to the view (their pages may end at different positions, so the tracking
record does not always stop the second). A lease makes the second wait: it
skips that projection until the holder stops.

PostgreSQL: a session-level advisory lock per projection, on a connection of
its own; it is released when the holder's connection ends (process exit,
crash, or the database going away — after which the lease is taken again).
SQLite: an exclusive ``flock`` on ``addvalue.<projection>.lease`` beside the
database, released by the kernel when the holder exits.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from typing import Any

import psycopg

from adapters.database_url import Database

__all__ = ["FileLeases", "PostgresLeases", "build_leases"]


class PostgresLeases:
    def __init__(self, url: str, schema: str) -> None:
        self._url = url
        self._schema = schema
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None
        self._held: set[str] = set()
        self._lock = threading.Lock()

    def hold(self, name: str) -> bool:
        """True when this process holds the projection's lease (taking it now if it is free)."""
        with self._lock:
            try:
                conn = self._connection()
                if name in self._held:
                    conn.execute("SELECT 1")  # the lease lives as long as this connection
                    return True
                row = conn.execute(
                    "SELECT pg_try_advisory_lock(hashtext(%s))", (f"addvalue:{self._schema}:{name}",)
                ).fetchone()
            except psycopg.Error:
                self._drop()  # the database went away, and our leases with it: take them again next time
                return False
            if row is not None and row[0]:
                self._held.add(name)
                return True
            return False

    def release(self, name: str) -> None:
        with self._lock:
            if name not in self._held or self._conn is None:
                return
            self._held.discard(name)
            try:
                self._conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (f"addvalue:{self._schema}:{name}",))
            except psycopg.Error:
                self._drop()  # the connection is gone, and every lock it held with it

    def _connection(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._conn is None or self._conn.closed:
            self._held.clear()
            self._conn = psycopg.connect(self._url, autocommit=True, connect_timeout=2)
        return self._conn

    def _drop(self) -> None:
        self._held.clear()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        with self._lock:
            self._drop()


class FileLeases:
    def __init__(self, folder: Path, stem: str) -> None:
        self._folder = folder
        self._stem = stem
        self._files: dict[str, int] = {}
        self._lock = threading.Lock()

    def hold(self, name: str) -> bool:
        with self._lock:
            if name in self._files:
                return True
            self._folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._folder / f"{self._stem}.{name}.lease", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self._files[name] = fd
            return True

    def release(self, name: str) -> None:
        with self._lock:
            fd = self._files.pop(name, None)
            if fd is not None:
                os.close(fd)

    def close(self) -> None:
        with self._lock:
            for fd in self._files.values():
                os.close(fd)  # closing releases the flock
            self._files.clear()


def build_leases(db: Database) -> PostgresLeases | FileLeases:
    if db.kind == "sqlite":
        assert db.sqlite_path is not None
        return FileLeases(db.sqlite_path.parent, db.sqlite_path.stem)
    return PostgresLeases(db.url, db.schema)
