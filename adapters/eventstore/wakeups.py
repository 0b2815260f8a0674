"""Waking the projections when events are committed: LISTEN on PostgreSQL, ``PRAGMA data_version`` on SQLite.

The library's PostgreSQL recorder sends NOTIFY on the events table's channel
in every insert transaction (our COPY path too). Listening for it lets the
projection thread catch up at once instead of at its next interval. SQLite
has no such signal; its ``data_version`` changes when another connection
commits to the file, and reading it is a few microseconds, so it is polled
every 50 ms (any process's commit, including another serve worker's).

NOTIFY channels belong to the database, not to a schema: two services that share one PostgreSQL
database under different ``ADDVALUE_DATABASE_SCHEMA`` would wake each other on a fixed channel
(harmless, but a catch-up pass for nothing on every commit of the other). ``events_channel``
names the channel after the schema; ``public`` keeps the library's name. Services in different
databases never hear each other whatever the name.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path
from typing import Final

import psycopg
from psycopg.sql import SQL, Identifier

__all__ = ["PostgresWakeups", "SqliteWakeups", "events_channel"]

SQLITE_POLL_SECONDS: Final = 0.05
_MAX_IDENTIFIER_BYTES: Final = 63  # PostgreSQL truncates longer names (NAMEDATALEN - 1)


def events_channel(schema: str, events_table: str) -> str:
    """The channel the events table's commits are told on: the table's own name in ``public``, else
    ``<schema>.<table>`` (a hash of the schema where that would be truncated and could collide)."""
    if schema == "public":
        return events_table
    channel = f"{schema}.{events_table}"
    if len(channel.encode()) > _MAX_IDENTIFIER_BYTES:
        channel = f"{hashlib.sha256(schema.encode()).hexdigest()[:24]}.{events_table}"
    return channel


class PostgresWakeups:
    def __init__(self, conninfo: str, channel: str) -> None:
        self._conninfo = conninfo
        self._channel = channel
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def wait(self, timeout: float) -> bool:
        """True when an insert was committed within ``timeout`` seconds; False otherwise."""
        try:
            if self._conn is None:
                self._conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=2)
                self._conn.execute(SQL("LISTEN {}").format(Identifier(self._channel)))
            for _ in self._conn.notifies(timeout=timeout, stop_after=1):
                return True
        except psycopg.Error:
            # The database went away: fall back to waiting the interval, reconnect next time.
            self.close()
            time.sleep(timeout)
        return False

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class SqliteWakeups:
    """Commits to a SQLite file, seen through ``PRAGMA data_version`` on a connection that never writes."""

    def __init__(self, path: Path, *, poll_every: float = SQLITE_POLL_SECONDS) -> None:
        self._path = path
        self._poll_every = poll_every
        self._conn: sqlite3.Connection | None = None
        self._seen: int | None = None

    def wait(self, timeout: float) -> bool:
        """True when a commit happened since the last call (or within ``timeout`` seconds); False otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                version = self._version()
            except sqlite3.Error:
                self.close()  # the file is being replaced (restore) or locked for long: wait, reopen next time
                version = None
            changed = version is not None and self._seen is not None and version != self._seen
            self._seen = version if version is not None else self._seen
            left = deadline - time.monotonic()
            if changed or left <= 0:
                return changed
            time.sleep(min(self._poll_every, left))

    def _version(self) -> int:
        if self._conn is None:
            # Read-only, so that it never creates the file; check_same_thread=False: built by the container,
            # used by the scheduler's thread only.
            uri = f"{self._path.resolve().as_uri()}?mode=ro"
            self._conn = sqlite3.connect(uri, uri=True, timeout=1, isolation_level=None, check_same_thread=False)
        row = self._conn.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
