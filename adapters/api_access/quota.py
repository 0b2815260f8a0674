"""API request counters on SQLite (``addvalue.api_limits.db``) or PostgreSQL (``<schema>.api_rate_windows``).

One row per (user key, window start). A hit adds one to the current window's
row and reads the previous window's, in one statement; a refused hit takes
its one back (SQLite: in the same transaction; PostgreSQL: in the next
statement, as ``PostgresApiRateCounter._count_many`` explains).
``hit_many`` does the same for the hits of concurrent requests in one
transaction: each user's hits in a window are added at once (one upsert for
the batch on PostgreSQL) and decided in order (application.api_access.quota.decide_many). Rows
older than the previous window are deleted once per window by each instance.
On PostgreSQL the table is UNLOGGED: counts are not worth a WAL write, and a
crash that empties it only hands out one fresh window.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier

from adapters.connections import SqliteFile, create_tables, postgres_pool, run_in_transaction, run_statement
from adapters.database_url import Database
from application.api_access.ports import ApiRateCounter, QuotaDecision
from application.api_access.quota import ApiQuota, Window, current_window, decide_many

__all__ = ["PostgresApiRateCounter", "SqliteApiRateCounter", "build_api_rate_counter"]


class _WindowCounter:
    """The sliding-window rule; subclasses count in their database."""

    def __init__(self, quota: ApiQuota) -> None:
        self._quota = quota
        self._pruned_at = -1  # the window start of the last pruning

    def hit(self, principal_key: str, now: datetime) -> QuotaDecision:
        return self.hit_many([(principal_key, now)])[0]

    def hit_many(self, hits: Sequence[tuple[str, datetime]]) -> list[QuotaDecision]:
        if not hits:
            return []
        # Per window (a batch straddles two at most), per user: the moments of their hits, in order of arrival.
        groups: dict[int, dict[str, list[tuple[int, Window]]]] = {}
        for i, (key, now) in enumerate(hits):
            window = current_window(now, self._quota)
            groups.setdefault(window.start, {}).setdefault(key, []).append((i, window))
        ordered = [groups[start] for start in sorted(groups)]
        counted = self._count_many([{key: [w for _, w in mine] for key, mine in group.items()} for group in ordered])
        decisions: list[QuotaDecision | None] = [None] * len(hits)
        for group, found in zip(ordered, counted, strict=True):
            for key, mine in group.items():
                for (i, _), decision in zip(mine, found[key], strict=True):
                    decisions[i] = decision
        latest = max(groups)
        if latest > self._pruned_at:
            self._pruned_at = latest
            self._prune(latest - self._quota.window_seconds)
        return [d for d in decisions if d is not None]

    def _count_many(self, groups: list[dict[str, list[Window]]]) -> list[dict[str, list[QuotaDecision]]]:
        """Per window (oldest first), per user key, the windows of their hits: add the hits, decide each in
        order, take back the refused ones; all in one transaction."""
        raise NotImplementedError

    def _prune(self, before: int) -> None:
        raise NotImplementedError


class SqliteApiRateCounter(_WindowCounter, ApiRateCounter):
    """Counters in a SQLite file of their own; ``BEGIN IMMEDIATE`` makes each hit atomic across processes.

    Not inline: a writer waiting for another process's lock sleeps a millisecond or more at a time.
    """

    def __init__(self, path: Path, quota: ApiQuota) -> None:
        super().__init__(quota)
        # Losing the last moments of counts in a power cut is harmless: no fsync per hit.
        self._file = SqliteFile(path, what="API rate counters", synchronous="NORMAL")
        with self._file.transaction(write=True) as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS api_rate_windows (key TEXT NOT NULL, window_start INTEGER NOT NULL,"
                " n INTEGER NOT NULL, PRIMARY KEY (key, window_start)) STRICT, WITHOUT ROWID"
            )

    def _count_many(self, groups: list[dict[str, list[Window]]]) -> list[dict[str, list[QuotaDecision]]]:
        found: list[dict[str, list[QuotaDecision]]] = []
        with self._file.transaction(write=True) as db:
            for group in groups:
                decided = {}
                for key, windows in sorted(group.items()):
                    window, k = windows[0], len(windows)
                    (after,) = db.execute(
                        "INSERT INTO api_rate_windows VALUES (?, ?, ?)"
                        " ON CONFLICT (key, window_start) DO UPDATE SET n = n + excluded.n RETURNING n",
                        (key, window.start, k),
                    ).fetchone()
                    row = db.execute(
                        "SELECT n FROM api_rate_windows WHERE key = ? AND window_start = ?",
                        (key, window.previous_start),
                    ).fetchone()
                    decided[key] = decide_many(self._quota, windows, 0 if row is None else row[0], after - k)
                    refused = sum(not d.allowed for d in decided[key])
                    if refused:
                        db.execute(
                            "UPDATE api_rate_windows SET n = n - ? WHERE key = ? AND window_start = ?",
                            (refused, key, window.start),
                        )
                found.append(decided)
        return found

    def _prune(self, before: int) -> None:
        with self._file.transaction(write=True) as db:
            db.execute("DELETE FROM api_rate_windows WHERE window_start < ?", (before,))

    def close(self) -> None:
        self._file.close()


class PostgresApiRateCounter(_WindowCounter, ApiRateCounter):
    """Counters in ``<schema>.api_rate_windows``; the upsert's row lock makes each hit atomic.

    Inline: a hit is one autocommitted statement on an unlogged table, held up only by the same caller's hit in
    another process, for as long as that one row's update takes.
    """

    counts_inline = True

    def __init__(self, conninfo: str, quota: ApiQuota, *, schema: str = "public") -> None:
        super().__init__(quota)
        self._table = SQL("{}.api_rate_windows").format(Identifier(schema))
        # Run for every API request: composed once (composing costs more than sending).
        self._bump = (
            SQL(
                "WITH hits AS (SELECT * FROM unnest(%(keys)s::text[], %(ks)s::integer[]) AS h(key, k)),"
                " bumped AS (INSERT INTO {t} AS w SELECT key, %(start)s, k FROM hits ORDER BY key"
                " ON CONFLICT (key, window_start) DO UPDATE SET n = w.n + excluded.n RETURNING key, n)"
                " SELECT b.key, b.n, coalesce(p.n, 0) FROM bumped b"
                " LEFT JOIN {t} p ON p.key = b.key AND p.window_start = %(previous)s"
            )
            .format(t=self._table)
            .as_bytes()
        )
        self._refund = (
            SQL(
                "UPDATE {t} AS w SET n = w.n - r.k FROM unnest(%s::text[], %s::integer[]) AS r(key, k)"
                " WHERE w.key = r.key AND w.window_start = %s"
            )
            .format(t=self._table)
            .as_bytes()
        )
        self._pool = postgres_pool(conninfo)
        table = SQL(
            "CREATE UNLOGGED TABLE IF NOT EXISTS {} (key text NOT NULL, window_start bigint NOT NULL,"
            " n integer NOT NULL, PRIMARY KEY (key, window_start))"
        ).format(self._table)
        create_tables(self._pool, "API rate counters", "addvalue.api_rate_windows", schema, table)

    def _count_many(self, groups: list[dict[str, list[Window]]]) -> list[dict[str, list[QuotaDecision]]]:
        # Each statement commits on its own: BEGIN and COMMIT would be two more round trips for every batch, and
        # the table is unlogged anyway. Refused hits are added by the upsert and taken back by the next statement;
        # in between, another worker counting the same person sees them, and so finds no room for a request for
        # which there was none anyway (the window frees room over seconds, not in that fraction of a millisecond).
        def work(conn: psycopg.Connection[tuple[Any, ...]]) -> list[dict[str, list[QuotaDecision]]]:
            return [self._count_window(conn, group) for group in groups]

        return run_statement(self._pool, "API rate counters", work)

    def _count_window(
        self, conn: psycopg.Connection[tuple[Any, ...]], group: dict[str, list[Window]]
    ) -> dict[str, list[QuotaDecision]]:
        keys = sorted(group)  # rows locked in one order in every process: no deadlock between two batches
        window = group[keys[0]][0]
        rows = conn.execute(
            self._bump,
            {
                "keys": keys,
                "ks": [len(group[k]) for k in keys],
                "start": window.start,
                "previous": window.previous_start,
            },
        ).fetchall()
        decided = {}
        refunds: dict[str, int] = {}
        for key, after, previous in rows:
            decided[key] = decide_many(self._quota, group[key], previous, after - len(group[key]))
            refused = sum(not d.allowed for d in decided[key])
            if refused:
                refunds[key] = refused
        if refunds:
            conn.execute(
                self._refund,
                (list(refunds), list(refunds.values()), window.start),
            )
        return decided

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
