"""The command-line options every benchmark shares: its description and the PostgreSQL database it runs on."""

from __future__ import annotations

import argparse
import hashlib
import os
from typing import Any

import psycopg

# The test suite's database unless told otherwise: benchmarks make their own schema in it and leave the rest alone.
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"


def benchmark_parser(description: str | None) -> argparse.ArgumentParser:
    """A parser that shows the script's docstring as written and asks for ``--database-url``."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("ADDVALUE_TEST_POSTGRES_URL", DEFAULT_DATABASE_URL))
    return parser


def schema_tables(conn: psycopg.Connection[Any], schema: str) -> list[tuple[str, str, int]]:
    """(schema, table, bytes on disk with indexes and TOAST) of a bench schema's tables and its key store's."""
    rows = conn.execute(
        "SELECT n.nspname, c.relname, pg_total_relation_size(c.oid) FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN (%s, %s) AND c.relkind IN ('r', 'p')",
        (schema, f"{schema}_keys"),
    ).fetchall()
    return [(str(namespace), str(table), int(size)) for namespace, table, size in rows]


def kept_schema_master_key(schema: str) -> bytes:
    """The master key of a schema kept by ``bench/ingest.py --schema``: derived from its name, so that later runs
    (and bench/rebuild_cli.py) open it again. Bench data only."""
    return hashlib.sha256(f"addvalue bench {schema}".encode()).digest()
