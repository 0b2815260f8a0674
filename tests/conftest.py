"""Storage fixtures: every storage test runs on SQLite and on PostgreSQL.

PostgreSQL tests run when ADDVALUE_TEST_POSTGRES_URL is set (as .ci/run sets
it) and are skipped, loudly, otherwise. Each test gets its own schema (or
SQLite folder), dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, settings

from adapters.database_url import parse_database_url
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.overrides import Overrides
from entrypoints.settings import Settings
from tests.fakes import FixedClock

# Hypothesis's timing checks judge the machine, not the code: on a shared
# 2-core runner with PostgreSQL beside it, generating a few examples can take
# over a second and fail a property that holds. The properties keep every
# example; only the health check on speed and the per-example deadline go.
settings.register_profile("addvalue", suppress_health_check=[HealthCheck.too_slow], deadline=None)
settings.load_profile("addvalue")

pytest_plugins = ["tests.no_skips"]  # .ci/run turns every skip into a failure

POSTGRES_URL = os.environ.get("ADDVALUE_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres" and not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need ADDVALUE_TEST_POSTGRES_URL (set by .ci/run)")
    return str(request.param)


@pytest.fixture
def settings(backend: str, tmp_path: Path) -> Iterator[Settings]:
    master_key, secret = os.urandom(32), "test-secret-" + "x" * 40
    if backend == "sqlite":
        yield Settings(
            database=parse_database_url(f"sqlite:///{tmp_path}/addvalue.db"), master_key=master_key, jwt_secret=secret
        )
        return
    assert POSTGRES_URL is not None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield Settings(
        database=parse_database_url(POSTGRES_URL, schema=schema),
        master_key=master_key,
        jwt_secret=secret,
        archive_dir=tmp_path / "archive",  # not ./var/archive/<schema> in the working folder
    )
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"DROP SCHEMA IF EXISTS {schema}_keys CASCADE")


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    built = bootstrap(settings)
    yield built
    built.close()


# "Now" for tests whose expectations depend on the day: a fixed clock, so the suite passes at any time of day.
FIXED_NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def clocked_container(settings: Settings) -> Iterator[Container]:
    """The service on a ``FixedClock`` at ``FIXED_NOW`` (the test may move ``container.ports.clock``)."""
    with bootstrap(settings, overrides=Overrides(clock=FixedClock(FIXED_NOW))) as built:
        yield built
