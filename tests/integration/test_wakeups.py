"""Word of committed events, so that the projections (and the live WebSocket) need not wait out an interval."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import msgspec
import psycopg
import pytest

from adapters.database_url import parse_database_url
from application.principals import Principal
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.settings import Settings
from tests.conftest import POSTGRES_URL
from tests.fakes import consent

SERVICE = Principal(subject="tests", role="service")


def test_a_commit_by_another_connection_wakes_the_projections_and_quiet_does_not(container: Container) -> None:
    wakeups = container.wakeups
    assert wakeups is not None  # SQLite too: PRAGMA data_version, not the interval
    # The suite's parallel workers share one PostgreSQL database, a schema each: the channel is the schema's.
    wakeups.wait(0)  # listening from here on
    assert not wakeups.wait(0.2)
    report = container.ingestion.ingest([consent(uuid.uuid4(), analytics=True)], sent_at=None, principal=SERVICE)
    assert report.accepted == 1
    assert wakeups.wait(2.0)
    assert not wakeups.wait(0.2)  # that commit is told once


@pytest.fixture
def neighbour(settings: Settings, tmp_path: Path) -> Iterator[Container]:
    """Another service beside the first: the same PostgreSQL database in a schema of its own, or its own folder."""
    if settings.database.kind == "sqlite":
        database = parse_database_url(f"sqlite:///{tmp_path}/neighbour/addvalue.db")
    else:
        assert POSTGRES_URL is not None
        database = parse_database_url(POSTGRES_URL, schema=f"n_{uuid.uuid4().hex[:12]}")
    with bootstrap(msgspec.structs.replace(settings, database=database)) as built:
        yield built
    if database.kind != "sqlite":
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {database.schema} CASCADE")
            conn.execute(f"DROP SCHEMA IF EXISTS {database.schema}_keys CASCADE")


def test_a_service_in_another_schema_of_the_same_database_is_not_woken_by_this_ones_commits(
    container: Container, neighbour: Container
) -> None:
    ours, theirs = container.wakeups, neighbour.wakeups
    assert ours is not None
    assert theirs is not None
    ours.wait(0)  # both listening from here on
    theirs.wait(0)
    report = container.ingestion.ingest([consent(uuid.uuid4(), analytics=True)], sent_at=None, principal=SERVICE)
    assert report.accepted == 1
    assert ours.wait(2.0)
    assert not theirs.wait(0.5)
