"""Direct access to what a backend holds on disk, for tests that look past the code."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg

from entrypoints.bootstrap import Container


def raw_bytes(container: Container) -> bytes:
    """Everything the database holds for this service, as bytes.

    SQLite: the files themselves, write-ahead logs included. PostgreSQL: every
    value of every row in the service's schemas (bytea as its raw bytes).
    """
    db = container.settings.database
    if db.kind == "sqlite":
        assert db.sqlite_path is not None
        return b"".join(p.read_bytes() for p in sorted(Path(db.sqlite_path.parent).iterdir()) if p.is_file())
    chunks: list[bytes] = []
    with psycopg.connect(db.url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN (%s, %s)",
            (db.schema, f"{db.schema}_keys"),
        ).fetchall()
        assert tables, "no tables found: the schema layout changed"
        for schema, table in tables:
            for row in conn.execute(f'SELECT * FROM "{schema}"."{table}"'):
                chunks.extend(v if isinstance(v, bytes) else str(v).encode() for v in row)
    return b"\x00".join(chunks)


def execute(container: Container, sql_sqlite: str, sql_postgres: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """Run one statement against the event store, behind the library's back."""
    db = container.settings.database
    if db.kind == "sqlite":
        assert db.sqlite_path is not None
        with sqlite3.connect(db.sqlite_path) as conn:
            return conn.execute(sql_sqlite, params).fetchall()
    with psycopg.connect(db.url) as conn:
        cur = conn.execute(sql_postgres.replace("{events}", f'"{db.schema}".addvalue_events'), params)
        return cur.fetchall() if cur.description else []


def tamper_last_byte(container: Container, stream_id: Any, version: int) -> None:
    sqlite_id = stream_id.hex
    (state,) = execute(
        container,
        "SELECT state FROM stored_events WHERE originator_id=? AND originator_version=?",
        "SELECT state FROM {events} WHERE originator_id=%s AND originator_version=%s",
        (sqlite_id if container.settings.database.kind == "sqlite" else stream_id, version),
    )[0]
    altered = bytes(state[:-1]) + bytes([state[-1] ^ 0x01])
    put_state(container, stream_id, version, altered)


def put_state(container: Container, stream_id: Any, version: int, state: bytes) -> None:
    is_sqlite = container.settings.database.kind == "sqlite"
    execute(
        container,
        "UPDATE stored_events SET state=? WHERE originator_id=? AND originator_version=?",
        "UPDATE {events} SET state=%s WHERE originator_id=%s AND originator_version=%s",
        (state, stream_id.hex if is_sqlite else stream_id, version),
    )


def get_state(container: Container, stream_id: Any, version: int) -> bytes:
    is_sqlite = container.settings.database.kind == "sqlite"
    rows = execute(
        container,
        "SELECT state FROM stored_events WHERE originator_id=? AND originator_version=?",
        "SELECT state FROM {events} WHERE originator_id=%s AND originator_version=%s",
        (stream_id.hex if is_sqlite else stream_id, version),
    )
    return bytes(rows[0][0])


def key_rows(container: Container) -> int:
    """How many subject keys the key store holds (one row each in ``subject_keys``)."""
    db = container.settings.database
    if db.kind == "sqlite":
        with sqlite3.connect(db.sibling("keys")) as conn:
            return int(conn.execute("SELECT count(*) FROM subject_keys").fetchone()[0])
    with psycopg.connect(db.url) as conn:
        row = conn.execute(f'SELECT count(*) FROM "{db.schema}_keys".subject_keys').fetchone()
        assert row is not None
        return int(row[0])
