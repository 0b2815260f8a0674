"""The check before a pooled PostgreSQL connection is used: it sees a server-closed connection, without a query."""

from __future__ import annotations

import time

import psycopg
import psycopg_pool
import pytest

from adapters.connections import check_without_round_trip, small_pool
from tests.conftest import POSTGRES_URL

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL tests need ADDVALUE_TEST_POSTGRES_URL (set by .ci/run)"),
]


def _terminate(pid: int) -> None:
    assert POSTGRES_URL is not None
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def _closed_by_server(conn: psycopg.Connection[object]) -> None:
    """The server ends the connection; wait until its goodbye is in the socket."""
    _terminate(conn.info.backend_pid)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            check_without_round_trip(conn)
        except psycopg.OperationalError:
            return
        time.sleep(0.05)


def test_a_working_connection_passes_without_a_query_being_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    assert POSTGRES_URL is not None
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:

        def no_query(*args: object, **kwargs: object) -> None:
            raise AssertionError("the check sent a query")

        monkeypatch.setattr(psycopg.Connection, "execute", no_query)
        monkeypatch.setattr(psycopg.Cursor, "execute", no_query)
        for _ in range(3):
            check_without_round_trip(conn)
        with pytest.raises(AssertionError):  # what psycopg_pool's own check does
            psycopg_pool.ConnectionPool.check_connection(conn)


def test_a_connection_the_server_closed_is_refused() -> None:
    assert POSTGRES_URL is not None
    conn = psycopg.connect(POSTGRES_URL, autocommit=True)
    try:
        _closed_by_server(conn)
        with pytest.raises(psycopg.OperationalError):
            check_without_round_trip(conn)
    finally:
        conn.close()


def test_the_pool_replaces_a_connection_the_server_closed() -> None:
    assert POSTGRES_URL is not None
    pool = small_pool(POSTGRES_URL, max_size=1)
    try:
        with pool.connection() as conn:
            first = conn.info.backend_pid
        _terminate(first)
        time.sleep(0.2)
        with pool.connection() as conn:  # the broken one is discarded, not handed out
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        assert row[0] != first
    finally:
        pool.close()
