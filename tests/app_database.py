"""A second PostgreSQL database standing for the app's own (Supabase), with the outbox and example triggers."""

from __future__ import annotations

import base64
import contextlib
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from adapters.sources.outbox_postgres import install
from adapters.sources.outbox_sql import TRIGGER_EXAMPLES
from entrypoints.settings import Settings
from tests.conftest import POSTGRES_URL

__all__ = ["AppDatabase", "app_database", "app_db", "service_environment"]

# The tables the example triggers are written for: Supabase's auth.users (in part) and a follows table.
_APP_TABLES = """
CREATE SCHEMA auth;
CREATE TABLE auth.users (
    id uuid PRIMARY KEY, email text, created_at timestamptz NOT NULL DEFAULT now(), raw_app_meta_data jsonb
);
CREATE TABLE public.follows (follower_id uuid NOT NULL, followed_id uuid NOT NULL);
"""


@dataclass(frozen=True)
class AppDatabase:
    url: str

    def execute(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def emit(self, *events: bytes) -> None:
        """Each event through addvalue_outbox.emit, in one transaction (as one app transaction would)."""
        with psycopg.connect(self.url) as conn:
            for payload in events:
                conn.execute("SELECT addvalue_outbox.emit(%s::jsonb)", (payload.decode(),))

    def rows(self) -> list[tuple[str, Any]]:
        """(state, reasons) of every outbox row, in emission order."""
        return [(s, r) for s, r in self.execute("SELECT state, reasons FROM addvalue_outbox.events ORDER BY id")]

    def with_triggers(self) -> AppDatabase:
        """The outbox installed, and the example triggers of ``addvalue outbox sql`` applied as printed, uncommented."""
        install(self.url)
        self.execute(_APP_TABLES + re.sub(r"(?m)^-- ", "", TRIGGER_EXAMPLES))
        return self


@contextlib.contextmanager
def app_database() -> Iterator[AppDatabase]:
    """A fresh database on the test server (``i21_app_<hex>``), dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip("the app's database is PostgreSQL: needs ADDVALUE_TEST_POSTGRES_URL (set by .ci/run)")
    name = f"i21_app_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield AppDatabase(urlsplit(POSTGRES_URL)._replace(path=f"/{name}").geturl())
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def app_db() -> Iterator[AppDatabase]:
    with app_database() as db:
        yield db


def service_environment(settings: Settings, workdir: Path) -> dict[str, str]:
    """The environment of an ``addvalue`` process on the store of ``settings`` (none of our ADDVALUE_ settings)."""
    db = settings.database
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADDVALUE_")}
    env |= {
        "PYTHONPATH": str(Path(__file__).parents[1]),
        "ADDVALUE_MASTER_KEY": base64.b64encode(settings.master_key).decode(),
        "ADDVALUE_JWT_SECRET": settings.jwt_secret,
        "ADDVALUE_LOG_LEVEL": "warning",
        "ADDVALUE_METRICS_DIR": str(workdir / "metrics"),
    }
    if db.sqlite_path is not None:
        return env | {"ADDVALUE_DATABASE_URL": f"sqlite:///{db.sqlite_path}"}
    return env | {"ADDVALUE_DATABASE_URL": db.url, "ADDVALUE_DATABASE_SCHEMA": db.schema}
