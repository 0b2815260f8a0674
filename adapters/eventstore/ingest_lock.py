"""Ingest writers of one database, across processes: side by side, or one alone (``IngestLedger.writing``).

A write reads the versions of the consent streams it reads (and may append
to), then commits. Between the two, another process (a second serve worker,
the CLI) changing the same consent would make the commit fail on the primary
key (stream id, version). That is rare, so writes hold the lock shared and
run side by side; once a process has seen it happen (see
``Ingestion.record``), and on every retry, its writes hold the lock alone,
from that read to the commit, so the read is still true at commit. Sessions,
which two processes do append to at once (a batch of many people reaches any
worker), need no part of this: their versions are read inside the insert's
transaction, under the event store's write lock (``IngestMarks.appends``).

PostgreSQL: a session advisory lock on a pooled connection, so a process that
dies or loses its connection releases it. SQLite: ``flock`` on a
file beside the database, released by the kernel when the process ends.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from eventsourcing.postgres import PostgresDatastore

__all__ = ["SqliteIngestLock", "postgres_ingest_lock"]


@contextmanager
def postgres_ingest_lock(datastore: PostgresDatastore, events_table: str, *, alone: bool) -> Iterator[None]:
    """Held while the block runs: an advisory lock keyed by the events table's qualified name, shared unless alone.

    A session lock on a pooled (autocommit) connection, not a transaction's: the connection
    would sit idle in a transaction while the write is prepared, and the library's
    idle-in-transaction timeout (5 s) would cut off a long write.
    """
    key = (f"addvalue-ingest:{datastore.schema}.{events_table}",)
    mode = "" if alone else "_shared"
    with datastore.get_connection() as conn:
        conn.execute(f"SELECT pg_advisory_lock{mode}(hashtextextended(%s, 0))", key)
        try:
            yield
        finally:
            try:
                conn.execute(f"SELECT pg_advisory_unlock{mode}(hashtextextended(%s, 0))", key)
            except BaseException:
                conn.close()  # the server drops a closed session's locks; the pool discards the connection
                raise


class SqliteIngestLock:
    """``flock`` on ``<database>.ingest-lock``; nothing for an in-memory database (one process only)."""

    def __init__(self, db_name: str, in_memory: bool) -> None:
        self._path = None if in_memory else Path(db_name + ".ingest-lock")
        self._fd: int | None = None
        self._pid = 0

    @contextmanager
    def held(self, *, alone: bool) -> Iterator[None]:
        if self._path is None:
            yield
            return
        if self._fd is None or self._pid != os.getpid():
            # Opened in this process: a descriptor inherited across fork shares its lock with the parent.
            self._fd, self._pid = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()
        fcntl.flock(self._fd, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
