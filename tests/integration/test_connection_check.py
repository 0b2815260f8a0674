"""The check before a pooled PostgreSQL connection is used: it sees a server-closed connection, without a query."""

from __future__ import annotations

import os
import time
import uuid

import psycopg
import psycopg_pool
import pytest

from adapters.connections import check_without_round_trip, small_pool
from adapters.database_url import parse_database_url
from application.principals import Principal
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import Settings
from tests.conftest import POSTGRES_URL
from tests.fakes import consent, feedback

SERVICE = Principal(subject="tests", role="service")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL tests need ADDVALUE_TEST_POSTGRES_URL (set by .ci/run)"),
]


def _terminate(pid: int) -> None:
    assert POSTGRES_URL is not None
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def _gone(pid: int) -> None:
    """Until the server's backend ``pid`` has exited (its goodbye is then on the way), at most 10 s."""
    assert POSTGRES_URL is not None
    deadline = time.monotonic() + 10
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        while time.monotonic() < deadline:
            if admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone() is None:
                return
            time.sleep(0.05)
    raise AssertionError(f"backend {pid} still running 10 s after pg_terminate_backend")


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
        _gone(first)
        with pool.connection() as conn:  # the broken one is discarded, not handed out
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        assert row[0] != first
    finally:
        pool.close()


def test_ingestion_goes_on_after_the_server_closed_every_connection_of_the_service() -> None:
    """The event store's, the key store's and the small stores' pools all check before use:
    after the server ends their connections, the next write succeeds at its first attempt."""
    assert POSTGRES_URL is not None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    settings = Settings(
        database=parse_database_url(POSTGRES_URL, schema=schema),
        master_key=os.urandom(32),
        jwt_secret="test-secret-" + "x" * 40,
    )
    container = bootstrap(settings)
    try:
        person = uuid.uuid4()
        first = container.ingestion.ingest([consent(person, analytics=True)], sent_at=None, principal=SERVICE)
        assert first.accepted == 1
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            # The service's connections: those whose last statement named its schemas.
            ended = admin.execute(
                "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE pid <> pg_backend_pid() AND query LIKE %s",
                (f"%{schema}%",),
            ).fetchall()
        assert len(ended) >= 3  # the event store, the key store, the erasure register
        for pid, _ in ended:
            _gone(pid)
        again = container.ingestion.ingest([feedback(person, "after")], sent_at=None, principal=SERVICE)
        assert again.accepted == 1
    finally:
        container.close()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            admin.execute(f"DROP SCHEMA IF EXISTS {schema}_keys CASCADE")
