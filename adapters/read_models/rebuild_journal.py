"""The journal of requested rebuilds, shared by every process of the service (application.read_models.rebuilds).

One row per (job, projection). SQLite: ``addvalue.rebuilds.db`` beside the
event store. PostgreSQL: ``<schema>.projection_rebuilds``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final, cast

from psycopg.sql import SQL, Identifier

from adapters.connections import SqliteFile, create_tables, postgres_pool, run_in_transaction
from adapters.database_url import Database
from application.read_models.ports import RebuildEntry, RebuildJournal, RebuildStatus

__all__ = ["PostgresRebuildJournal", "SqliteRebuildJournal", "build_rebuild_journal"]

_WHAT: Final = "rebuild journal"
_COLUMNS: Final = "job_id, name, status, requested_at, started_at, finished_at, position, target, error"


def _entry(row: tuple[Any, ...]) -> RebuildEntry:
    job_id, name, status, requested, started, finished, position, target, error = row
    return RebuildEntry(
        job_id=job_id,
        name=name,
        status=cast(RebuildStatus, status),
        requested_at=_aware(requested),
        started_at=None if started is None else _aware(started),
        finished_at=None if finished is None else _aware(finished),
        position=position,
        target=target,
        error=error,
    )


def _aware(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


class SqliteRebuildJournal(RebuildJournal):
    """The journal in a SQLite file of its own."""

    def __init__(self, path: Path) -> None:
        self._file = SqliteFile(path, what=_WHAT, synchronous="NORMAL")
        with self._file.transaction(write=True) as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS projection_rebuilds (job_id TEXT NOT NULL, name TEXT NOT NULL,"
                " status TEXT NOT NULL, requested_at TEXT NOT NULL, started_at TEXT, finished_at TEXT,"
                " position INTEGER NOT NULL DEFAULT 0, target INTEGER NOT NULL DEFAULT 0,"
                " error TEXT NOT NULL DEFAULT '', owner TEXT, PRIMARY KEY (job_id, name))"
            )

    def request(self, job_id: str, names: Sequence[str], at: datetime) -> None:
        with self._file.transaction(write=True) as db:
            db.executemany(
                "INSERT INTO projection_rebuilds (job_id, name, status, requested_at) VALUES (?, ?, 'pending', ?)",
                [(job_id, name, at.isoformat()) for name in names],
            )

    def claim(self, names: Sequence[str], owner: str, at: datetime) -> list[RebuildEntry]:
        marks = ",".join("?" * len(names))
        with self._file.transaction(write=True) as db:
            first = db.execute(
                "SELECT job_id FROM projection_rebuilds WHERE (status = 'pending' OR (status = 'running'"
                f" AND owner <> ?)) AND name IN ({marks}) ORDER BY requested_at, job_id LIMIT 1",
                (owner, *names),
            ).fetchone()
            if first is None:
                return []
            db.execute(
                "UPDATE projection_rebuilds SET status = 'running', owner = ?, started_at = ?, position = 0"
                f" WHERE job_id = ? AND (status = 'pending' OR status = 'running') AND name IN ({marks})",
                (owner, at.isoformat(), first[0], *names),
            )
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM projection_rebuilds WHERE job_id = ? AND owner = ? AND status = 'running'"
                " ORDER BY name",
                (first[0], owner),
            ).fetchall()
        return [_entry(r) for r in rows]

    def progress(self, job_id: str, names: Sequence[str], position: int, target: int) -> None:
        with self._file.transaction(write=True) as db:
            db.executemany(
                "UPDATE projection_rebuilds SET position = ?, target = ? WHERE job_id = ? AND name = ?",
                [(position, target, job_id, name) for name in names],
            )

    def finish(self, job_id: str, names: Sequence[str], status: RebuildStatus, at: datetime, error: str = "") -> None:
        with self._file.transaction(write=True) as db:
            db.executemany(
                "UPDATE projection_rebuilds SET status = ?, finished_at = ?, error = ? WHERE job_id = ? AND name = ?",
                [(status, at.isoformat(), error, job_id, name) for name in names],
            )

    def job(self, job_id: str) -> list[RebuildEntry]:
        with self._file.transaction(write=False) as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM projection_rebuilds WHERE job_id = ? ORDER BY name", (job_id,)
            ).fetchall()
        return [_entry(r) for r in rows]

    def unfinished(self) -> list[RebuildEntry]:
        with self._file.transaction(write=False) as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM projection_rebuilds WHERE status IN ('pending', 'running')"
                " ORDER BY requested_at, job_id, name"
            ).fetchall()
        return [_entry(r) for r in rows]

    def close(self) -> None:
        self._file.close()


class PostgresRebuildJournal(RebuildJournal):
    """The journal in ``<schema>.projection_rebuilds``, on the shared pool of the small stores."""

    def __init__(self, url: str, *, schema: str = "public") -> None:
        self._table = SQL("{}.projection_rebuilds").format(Identifier(schema))
        self._pool = postgres_pool(url)
        table = SQL(
            "CREATE TABLE IF NOT EXISTS {} (job_id text NOT NULL, name text NOT NULL, status text NOT NULL,"
            " requested_at timestamptz NOT NULL, started_at timestamptz, finished_at timestamptz,"
            " position bigint NOT NULL DEFAULT 0, target bigint NOT NULL DEFAULT 0, error text NOT NULL DEFAULT '',"
            " owner text, PRIMARY KEY (job_id, name))"
        ).format(self._table)
        create_tables(self._pool, _WHAT, "addvalue.projection_rebuilds", schema, table)

    def _run(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        query = SQL(statement).format(self._table)
        run_in_transaction(self._pool, _WHAT, lambda conn: conn.cursor().executemany(query, rows))

    def _select(self, where: str, args: Sequence[Any]) -> list[RebuildEntry]:
        query = SQL(f"SELECT {_COLUMNS} FROM {{}} WHERE {where} ORDER BY requested_at, job_id, name").format(
            self._table
        )
        rows = run_in_transaction(self._pool, _WHAT, lambda conn: conn.execute(query, args).fetchall())
        return [_entry(r) for r in rows]

    def request(self, job_id: str, names: Sequence[str], at: datetime) -> None:
        self._run(
            "INSERT INTO {} (job_id, name, status, requested_at) VALUES (%s, %s, 'pending', %s)",
            [(job_id, name, at) for name in names],
        )

    def claim(self, names: Sequence[str], owner: str, at: datetime) -> list[RebuildEntry]:
        first = SQL(
            "SELECT job_id FROM {} WHERE (status = 'pending' OR (status = 'running' AND owner <> %s))"
            " AND name = ANY(%s) ORDER BY requested_at, job_id LIMIT 1 FOR UPDATE"
        ).format(self._table)
        take = SQL(
            "UPDATE {} SET status = 'running', owner = %s, started_at = %s, position = 0"
            " WHERE job_id = %s AND status IN ('pending', 'running') AND name = ANY(%s)"
        ).format(self._table)

        def claim(conn: Any) -> str | None:
            row = conn.execute(first, (owner, list(names))).fetchone()
            if row is not None:
                conn.execute(take, (owner, at, row[0], list(names)))
            return None if row is None else str(row[0])

        job_id = run_in_transaction(self._pool, _WHAT, claim)
        if job_id is None:
            return []
        return [e for e in self._select("job_id = %s AND owner = %s", (job_id, owner)) if e.status == "running"]

    def progress(self, job_id: str, names: Sequence[str], position: int, target: int) -> None:
        self._run(
            "UPDATE {} SET position = %s, target = %s WHERE job_id = %s AND name = %s",
            [(position, target, job_id, name) for name in names],
        )

    def finish(self, job_id: str, names: Sequence[str], status: RebuildStatus, at: datetime, error: str = "") -> None:
        self._run(
            "UPDATE {} SET status = %s, finished_at = %s, error = %s WHERE job_id = %s AND name = %s",
            [(status, at, error, job_id, name) for name in names],
        )

    def job(self, job_id: str) -> list[RebuildEntry]:
        return self._select("job_id = %s", (job_id,))

    def unfinished(self) -> list[RebuildEntry]:
        return self._select("status IN ('pending', 'running')", ())

    def close(self) -> None:
        self._pool.close()


def build_rebuild_journal(db: Database) -> SqliteRebuildJournal | PostgresRebuildJournal:
    if db.kind == "sqlite":
        return SqliteRebuildJournal(db.sibling("rebuilds"))
    return PostgresRebuildJournal(db.url, schema=db.schema)
