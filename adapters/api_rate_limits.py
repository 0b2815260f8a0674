"""API request counters on SQLite (``addvalue.api_limits.db``) or PostgreSQL (``<schema>.api_rate_windows``).

One row per (user key, window start). A hit adds one to the current window's
row and reads the previous window's, in one transaction; a refused hit takes
its one back in that same transaction, so no other worker ever sees it. Rows
older than the previous window are deleted once per window by each instance.
On PostgreSQL the table is UNLOGGED: counts are not worth a WAL write, and a
crash that empties it only hands out one fresh window.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier

from adapters.connections import SqliteFile, postgres_pool, run_in_transaction
from adapters.persistence import Database
from application.api_limits import ApiQuota, ApiRateCounter, QuotaDecision, Window, current_window, decide

__all__ = ["PostgresApiRateCounter", "SqliteApiRateCounter", "build_api_rate_counter"]


class _WindowCounter(ApiRateCounter):
    """The sliding-window rule; subclasses count in their database."""

    def __init__(self, quota: ApiQuota) -> None:
        self._quota = quota
        self._pruned_at = -1  # the window start of the last pruning

    def hit(self, principal_key: str, now: datetime) -> QuotaDecision:
        window = current_window(now, self._quota)
        decision = self._count(principal_key, window)
        if window.start > self._pruned_at:
            self._pruned_at = window.start
            self._prune(window.previous_start)
        return decision

    def _count(self, key: str, window: Window) -> QuotaDecision:
        raise NotImplementedError

    def _prune(self, before: int) -> None:
        raise NotImplementedError


class SqliteApiRateCounter(_WindowCounter):
    """Counters in a SQLite file of their own; ``BEGIN IMMEDIATE`` makes each hit atomic across processes."""

    def __init__(self, path: Path, quota: ApiQuota) -> None:
        super().__init__(quota)
        # Losing the last moments of counts in a power cut is harmless: no fsync per hit.
        self._file = SqliteFile(path, what="API rate counters", synchronous="NORMAL")
        with self._file.transaction(write=True) as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS api_rate_windows (key TEXT NOT NULL, window_start INTEGER NOT NULL,"
                " n INTEGER NOT NULL, PRIMARY KEY (key, window_start)) STRICT, WITHOUT ROWID"
            )

    def _count(self, key: str, window: Window) -> QuotaDecision:
        with self._file.transaction(write=True) as db:
            (current,) = db.execute(
                "INSERT INTO api_rate_windows VALUES (?, ?, 1)"
                " ON CONFLICT (key, window_start) DO UPDATE SET n = n + 1 RETURNING n",
                (key, window.start),
            ).fetchone()
            row = db.execute(
                "SELECT n FROM api_rate_windows WHERE key = ? AND window_start = ?", (key, window.previous_start)
            ).fetchone()
            decision = decide(self._quota, window, 0 if row is None else row[0], current)
            if not decision.allowed:
                db.execute(
                    "UPDATE api_rate_windows SET n = n - 1 WHERE key = ? AND window_start = ?", (key, window.start)
                )
        return decision

    def _prune(self, before: int) -> None:
        with self._file.transaction(write=True) as db:
            db.execute("DELETE FROM api_rate_windows WHERE window_start < ?", (before,))

    def close(self) -> None:
        self._file.close()


class PostgresApiRateCounter(_WindowCounter):
    """Counters in ``<schema>.api_rate_windows``; the upsert's row lock makes each hit atomic."""

    def __init__(self, conninfo: str, quota: ApiQuota, *, schema: str = "public") -> None:
        super().__init__(quota)
        self._table = SQL("{}.api_rate_windows").format(Identifier(schema))
        self._pool = postgres_pool(conninfo)
        run_in_transaction(self._pool, "API rate counters", lambda conn: self._create(conn, schema))

    def _create(self, conn: psycopg.Connection[tuple[Any, ...]], schema: str) -> None:
        # Workers start together: one at a time, or CREATE … IF NOT EXISTS can still collide.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('addvalue.api_rate_windows'))")
        conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(schema)))
        conn.execute(
            SQL(
                "CREATE UNLOGGED TABLE IF NOT EXISTS {} (key text NOT NULL, window_start bigint NOT NULL,"
                " n integer NOT NULL, PRIMARY KEY (key, window_start))"
            ).format(self._table)
        )

    def _count(self, key: str, window: Window) -> QuotaDecision:
        def work(conn: psycopg.Connection[tuple[Any, ...]]) -> QuotaDecision:
            row = conn.execute(
                SQL(
                    "WITH bumped AS (INSERT INTO {t} AS w VALUES (%(key)s, %(start)s, 1)"
                    " ON CONFLICT (key, window_start) DO UPDATE SET n = w.n + 1 RETURNING n)"
                    " SELECT (SELECT n FROM bumped),"
                    " coalesce((SELECT n FROM {t} WHERE key = %(key)s AND window_start = %(previous)s), 0)"
                ).format(t=self._table),
                {"key": key, "start": window.start, "previous": window.previous_start},
            ).fetchone()
            assert row is not None
            decision = decide(self._quota, window, row[1], row[0])
            if not decision.allowed:
                conn.execute(
                    SQL("UPDATE {} SET n = n - 1 WHERE key = %s AND window_start = %s").format(self._table),
                    (key, window.start),
                )
            return decision

        return run_in_transaction(self._pool, "API rate counters", work)

    def _prune(self, before: int) -> None:
        run_in_transaction(
            self._pool,
            "API rate counters",
            lambda conn: conn.execute(SQL("DELETE FROM {} WHERE window_start < %s").format(self._table), (before,)),
        )

    def close(self) -> None:
        self._pool.close()


def build_api_rate_counter(db: Database, quota: ApiQuota) -> SqliteApiRateCounter | PostgresApiRateCounter:
    """The API request counters beside ``db``'s event store."""
    if db.kind == "sqlite":
        return SqliteApiRateCounter(db.sibling("api_limits"), quota)
    return PostgresApiRateCounter(db.url, quota, schema=db.schema)
