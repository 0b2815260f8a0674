"""Every PostgreSQL connection the service opens honours every libpq parameter of ADDVALUE_DATABASE_URL."""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import psycopg
import psycopg_pool
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg.rows import tuple_row

from adapters.connections import array_literal
from adapters.database_url import parse_database_url
from application.principals import Principal
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.settings import Settings
from tests.conftest import POSTGRES_URL
from tests.fakes import consent, feedback

SERVICE = Principal(subject="tests", role="service")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL tests need ADDVALUE_TEST_POSTGRES_URL (set by .ci/run)"),
]


def with_parameters(url: str, **parameters: str) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(parameters)]))
    return urlunsplit(parts._replace(query=query))


def open_pools() -> dict[int, psycopg_pool.ConnectionPool[psycopg.Connection[object]]]:
    """Every connection pool of this process, by identity (the event store's, the views', the small stores')."""
    return {id(o): o for o in gc.get_objects() if isinstance(o, psycopg_pool.ConnectionPool) and not o.closed}


@pytest.fixture
def named(tmp_path: Path) -> Iterator[tuple[Settings, str]]:
    """Settings whose URL carries application_name=<unique>, and that name."""
    assert POSTGRES_URL is not None
    name, schema = f"addvalue-{uuid.uuid4().hex[:10]}", f"t_{uuid.uuid4().hex[:12]}"
    database = parse_database_url(with_parameters(POSTGRES_URL, application_name=name), schema=schema)
    secret = "test-secret-" + "x" * 40
    yield Settings(database=database, master_key=os.urandom(32), jwt_secret=secret, archive_dir=tmp_path / "a"), name
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"DROP SCHEMA IF EXISTS {schema}_keys CASCADE")


def use_every_store(container: Container) -> None:
    person = uuid.uuid4()
    report = container.ingestion.ingest(
        [consent(person, analytics=True), feedback(person, "hi")], sent_at=None, principal=SERVICE
    )
    assert report.accepted == 2
    for projection in container.projections.values():  # every view catches up on its own pool
        projection.catch_up()
    container.erasure.request(person, requested_by="user")  # the erasure register, on the small stores' pool


def test_every_postgresql_pool_connects_with_every_parameter_of_the_database_url(named: tuple[Settings, str]) -> None:
    settings, name = named
    before = open_pools()
    container = bootstrap(settings)
    try:
        use_every_store(container)
        pools = [pool for key, pool in open_pools().items() if key not in before]
        assert len(pools) >= 6  # the event store, three views, the key store, the small stores' shared pool
        seen = []
        for pool in pools:
            with pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
                row = cursor.execute(
                    "SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()"
                ).fetchone()
            seen.append(row[0] if row else None)
        assert seen == [name] * len(pools), seen
    finally:
        container.close()


@settings(max_examples=25, deadline=None)
@given(
    hashes=st.lists(st.binary(min_size=0, max_size=40), max_size=30),
    ids=st.lists(st.uuids(), max_size=30),
)
def test_array_literals_reach_postgresql_as_the_values_given(hashes: list[bytes], ids: list[uuid.UUID]) -> None:
    # The key store and the erasure register send their bytea[] and uuid[] parameters as one text literal.
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        row = conn.execute("SELECT %s::bytea[], %s::uuid[]", (array_literal(hashes), array_literal(ids))).fetchone()
    assert row is not None
    assert [bytes(v) for v in row[0]] == hashes
    assert list(row[1]) == ids
