"""Waking the projections when events are committed: LISTEN on PostgreSQL, nothing on SQLite.

The library's PostgreSQL recorder sends NOTIFY on the events table's channel
in every insert transaction (our COPY path too). Listening for it lets the
projection thread catch up at once instead of at its next interval; SQLite
has no such signal, so there the thread polls.
"""

from __future__ import annotations

import time

import psycopg
from psycopg.sql import SQL, Identifier

__all__ = ["PostgresWakeups"]


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
