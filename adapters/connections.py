"""Connections for the small stores beside the event store (access log, API rate counters).

``SqliteFile``: one connection per thread to a file of its own, in WAL mode so
a long read (``addvalue audit verify``) never blocks the writers; writes take
``BEGIN IMMEDIATE``, which SQLite serializes across processes.
``postgres_pool``: a small pool, checked before use and quick to give up, as
for the event store (see adapters.eventstore.persistence).
``check_without_round_trip``: the check before use, for every pool of ours.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Final, TypeVar
from uuid import UUID

import psycopg
import psycopg_pool
from psycopg.sql import SQL, Composed, Identifier

from adapters.local_files import private_file
from application.errors import StorageError

__all__ = [
    "FAIL_FAST_SECONDS",
    "RECONNECT_GIVE_UP_SECONDS",
    "SharedPool",
    "SqliteFile",
    "array_literal",
    "check_without_round_trip",
    "checked_without_round_trip",
    "create_tables",
    "postgres_pool",
    "run_in_transaction",
    "run_statement",
    "small_pool",
]

# psycopg_pool retries a lost connection with a delay that doubles each time (1, 2, 4, 8, … s) until
# reconnect_timeout (5 minutes by default): after a few database restarts a pool could wait half a
# minute before trying again, answering 503 all the while. Giving up after 4 s resets the delay: the
# next request that needs a connection starts a new attempt at once.
RECONNECT_GIVE_UP_SECONDS: Final = 4.0
# After a pool found no connection within its 2 s, the shared stores fail at once for this long (SharedPool).
FAIL_FAST_SECONDS: Final = 1.0

T = TypeVar("T")


class SqliteFile:
    def __init__(self, path: Path, *, what: str, synchronous: str = "FULL") -> None:
        self._path, self._what, self._synchronous = path, what, synchronous
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        private_file(path)

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            # check_same_thread=False only so close() can close every thread's connection.
            db = sqlite3.connect(self._path, timeout=30, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self._synchronous}")
            self._local.db = db
            with self._lock:
                self._opened.append(db)
        return db

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """``write``: BEGIN IMMEDIATE (one writer at a time); else a read snapshot."""
        try:
            db = self._connection()
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.Error as e:
            raise StorageError(f"{self._what} {self._path}: {e}") from e
        try:
            yield db
            db.execute("COMMIT")
        except BaseException as e:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if isinstance(e, sqlite3.Error):
                raise StorageError(f"{self._what} {self._path}: {e}") from e
            raise

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for db in opened:
            db.close()


def array_literal(values: Iterable[bytes | UUID]) -> str:
    """A ``bytea[]`` or ``uuid[]`` parameter as one text literal (cast it: ``%s::bytea[]``, ``%s::uuid[]``).

    psycopg dumps a list element by element in Python: for the 1,000-odd lookup hashes of a batch of many
    people, 8.5% of the ingest workers' time (py-spy, bench/ingest.py --mixed). Hex in one string costs
    a C call per element.
    """
    return "{" + ",".join(v.hex if isinstance(v, UUID) else '"\\\\x' + v.hex() + '"' for v in values) + "}"


def check_without_round_trip(conn: psycopg.Connection[Any]) -> None:
    """Raise if the server has closed this pooled connection; never waits for the server.

    A restarted or crashed server's connections are closed by its side (a FATAL message, then
    end of file), which reading what is already in the socket reveals: libpq's sockets are
    non-blocking, so this costs two system calls. psycopg_pool's own ``check_connection`` sends
    an empty query instead: a round trip on every checkout, which at thousands of checkouts a
    second cost the writer and the API more than their queries. A connection that breaks
    silently (a network cut) still fails its first query, answered 503, and is then discarded.
    """
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    pgconn = conn.pgconn
    # Raises OperationalError at end of file. Twice: a server going away sends a message and
    # then closes, and one read may return just the message.
    pgconn.consume_input()
    pgconn.consume_input()
    if pgconn.status != psycopg.pq.ConnStatus.OK:
        raise psycopg.OperationalError("the server closed the connection")


def _sweeping_check(
    pool: psycopg_pool.ConnectionPool[Any],
) -> Callable[[psycopg.Connection[Any]], None]:
    """``check_without_round_trip``; when it finds a dead connection, the pool's idle ones are checked too.

    A server that restarted has closed every connection. psycopg_pool tries the pooled ones
    one by one and sleeps about a second after each that fails its check, so with a few dead
    ones a request ran out of its 2 s and got 503. Checking the idle ones at once (a round
    trip each, only now) replaces them all, and the next connection handed out is a new one.
    """

    def check(conn: psycopg.Connection[Any]) -> None:
        try:
            check_without_round_trip(conn)
        except psycopg.OperationalError:
            pool.check()
            raise

    return check


def checked_without_round_trip(datastore: Any) -> None:
    """Give an eventsourcing ``PostgresDatastore``'s pool our check before use.

    The library offers only ``POSTGRES_PRE_PING`` (psycopg_pool's round-trip check, off in
    adapters.eventstore.persistence) and psycopg_pool takes its check only in its constructor; the
    library builds the pool unopened, so setting it before first use is safe.
    """
    datastore.pool._check = _sweeping_check(datastore.pool)


def small_pool(url: str, *, max_size: int) -> psycopg_pool.ConnectionPool[psycopg.Connection[tuple[Any, ...]]]:
    """A pool of a few connections: short waits (2 s), a check before use (without a round trip), and a
    reconnection that gives up after RECONNECT_GIVE_UP_SECONDS (so its delay never grows long), as the
    event store's."""
    pool: psycopg_pool.ConnectionPool[psycopg.Connection[tuple[Any, ...]]] = psycopg_pool.ConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        open=True,
        timeout=2.0,
        check=lambda conn: _sweeping_check(pool)(conn),  # noqa: PLW0108 (pool is bound only after this call)
        reconnect_timeout=RECONNECT_GIVE_UP_SECONDS,
    )
    return pool


class SharedPool:
    """One small pool per database URL and process, shared by the small stores (access log, API quota,
    erasure register): each would otherwise hold connections of its own, and PostgreSQL's are few
    (100 by default, for every process of the service). Closed when the last store using it closes."""

    _pools: ClassVar[dict[str, tuple[psycopg_pool.ConnectionPool[psycopg.Connection[tuple[Any, ...]]], int]]] = {}
    _guard: ClassVar = threading.Lock()
    _down_until: ClassVar[dict[str, float]] = {}  # URL -> monotonic time until which it is taken as down

    def __init__(self, url: str) -> None:
        self._url = url
        self._closed = False
        with self._guard:
            pool, users = self._pools.get(url) or (
                small_pool(url, max_size=3),
                0,
            )
            self._pools[url] = (pool, users + 1)
        self._pool = pool

    @classmethod
    def open_pools(cls) -> list[psycopg_pool.ConnectionPool[psycopg.Connection[tuple[Any, ...]]]]:
        """The shared pools of this process (one per database URL), for the pool metrics."""
        with cls._guard:
            return [pool for pool, _ in cls._pools.values()]

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
        """A connection; while the database is known to be unreachable, an error at once.

        No connection within the pool's 2 s means the database is unreachable: for the next second, every
        caller of any store on this URL is told so at once instead of waiting its own 2 s. An API request
        uses two of these stores one after the other (quota, then access log), so it is answered 503 in
        about 2 s, not 4; after that second, the next caller tries again.
        """
        down = self._down_until.get(self._url)
        if down is not None and time.monotonic() < down:
            raise psycopg.OperationalError(
                f"the database was unreachable less than {FAIL_FAST_SECONDS:g} s ago; not waiting for it again yet"
            )
        try:
            with self._pool.connection() as conn:
                yield conn
        except psycopg_pool.PoolTimeout:
            self._down_until[self._url] = time.monotonic() + FAIL_FAST_SECONDS
            raise

    def close(self) -> None:
        with self._guard:
            if self._closed:
                return
            self._closed = True
            pool, users = self._pools[self._url]
            if users == 1:
                del self._pools[self._url]
                pool.close()
            else:
                self._pools[self._url] = (pool, users - 1)


def postgres_pool(url: str) -> SharedPool:
    return SharedPool(url)


def run_statement(
    pool: SharedPool | psycopg_pool.ConnectionPool[psycopg.Connection[tuple[Any, ...]]],
    what: str,
    work: Callable[[psycopg.Connection[tuple[Any, ...]]], T],
) -> T:
    """``work``, run without BEGIN and COMMIT around it (two round trips fewer): each statement commits on its
    own, so ``work`` is one statement, or statements that need not be atomic together.

    For single reads on the hot path, such as the erasure check before every write, and the API quota.
    """
    try:
        with pool.connection() as conn:
            conn.autocommit = True  # idle, so no round trip; the pool hands it out as it found it
            try:
                return work(conn)
            finally:
                conn.autocommit = False
    except psycopg.Error as e:
        raise StorageError(f"{what}: {e}") from e


def run_in_transaction(
    pool: SharedPool | psycopg_pool.ConnectionPool[psycopg.Connection[tuple[Any, ...]]],
    what: str,
    work: Callable[[psycopg.Connection[tuple[Any, ...]]], T],
) -> T:
    """``work`` in one transaction: committed when it returns, rolled back when it raises."""
    try:
        with pool.connection() as conn, conn.transaction():
            return work(conn)
    except psycopg.Error as e:
        raise StorageError(f"{what}: {e}") from e


def create_tables(
    pool: SharedPool | psycopg_pool.ConnectionPool[psycopg.Connection[tuple[Any, ...]]],
    what: str,
    lock: str,
    schema: str,
    *statements: Composed,
) -> None:
    """A small store's schema and tables, created in one transaction by one process at a time.

    Workers start together, and two ``CREATE … IF NOT EXISTS`` of the same
    table can still collide: a transaction-scoped advisory lock named ``lock``
    makes the others wait.
    """

    def create(conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock,))
        conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(schema)))
        for statement in statements:
            conn.execute(statement)

    run_in_transaction(pool, what, create)
