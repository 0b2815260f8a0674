"""Alerting's tables: ingest outcomes per second, the notification outbox, silences.

SQLite: ``addvalue.alerts.db`` beside the event store; PostgreSQL: ``<schema>.alert_*``.
The SQL is the same on both but for the placeholders (``?`` here, ``%s`` for
psycopg) and the key column's type; :class:`Sql` runs it on either
(the report artifacts use it too: adapters.reports.artifacts).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Final

import msgspec
import psycopg
from psycopg.sql import SQL

from adapters.connections import SqliteFile, create_tables, small_pool
from adapters.database_url import Database
from application.alerting.ports import Notification, Silence
from application.errors import StorageError

__all__ = ["AlertTables", "Sql", "build_alert_tables"]

_WHAT: Final = "alert tables"
_TABLES: Final = (
    "CREATE TABLE IF NOT EXISTS {p}alert_ingest_outcomes (second BIGINT NOT NULL, outcome TEXT NOT NULL,"
    " n BIGINT NOT NULL, PRIMARY KEY (second, outcome))",
    "CREATE TABLE IF NOT EXISTS {p}alert_outbox (id {serial} PRIMARY KEY, key TEXT NOT NULL UNIQUE,"
    " receiver TEXT NOT NULL, kind TEXT NOT NULL, target TEXT NOT NULL, subject TEXT NOT NULL, body TEXT NOT NULL,"
    " queued_at TEXT NOT NULL, next_attempt_at TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    " delivered_at TEXT, last_error TEXT)",
    "CREATE TABLE IF NOT EXISTS {p}alert_silences (id TEXT PRIMARY KEY, body TEXT NOT NULL)",
)
_COLUMNS: Final = "id, key, receiver, kind, target, subject, body, attempts, delivered_at, last_error"


def _stamp(moment: datetime) -> str:
    """Times as ISO text in UTC: they sort as text on both databases."""
    return moment.astimezone(UTC).isoformat()


class Sql:
    """Runs one transaction of ``?``-placeholder SQL on SQLite or PostgreSQL.

    ``tables``: CREATE statements with ``{p}`` (the schema prefix), ``{serial}`` and ``{blob}`` (the key and
    binary column types); on SQLite they live in the file ``sibling`` beside the event store.
    """

    def __init__(
        self,
        db: Database,
        *,
        sibling: str = "alerts",
        tables: Sequence[str] = _TABLES,
        what: str = _WHAT,
        lock: str = "addvalue:alert_tables",
    ) -> None:
        self._kind = db.kind
        self._what = what
        if db.kind == "sqlite":
            self.prefix = ""
            self._file = SqliteFile(db.sibling(sibling), what=what, synchronous="NORMAL")
            with self._file.transaction(write=True) as conn:
                for statement in tables:
                    conn.execute(statement.format(p="", serial="INTEGER", blob="BLOB"))
        else:
            self.prefix = f'"{db.schema}".'
            # A pool of its own, not the SharedPool: the outcome counts are flushed from a background thread,
            # and a flush failing during an outage must not mark the database down for the other stores.
            self._pool = small_pool(db.url, max_size=2)
            statements = [SQL(s.format(p=self.prefix, serial="BIGSERIAL", blob="BYTEA")).format() for s in tables]
            create_tables(self._pool, what, lock, db.schema, *statements)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        if self._kind == "sqlite":
            with self._file.transaction(write=True) as conn:
                yield _Cursor(conn, "?")
        else:
            try:
                with self._pool.connection() as pg, pg.transaction():
                    yield _Cursor(pg, "%s")
            except psycopg.Error as e:
                raise StorageError(f"{self._what}: {e}") from e

    def close(self) -> None:
        if self._kind == "sqlite":
            self._file.close()
        else:
            self._pool.close()


class _Cursor:
    def __init__(self, conn: Any, placeholder: str) -> None:
        self._conn, self._placeholder = conn, placeholder

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self._conn.execute(SQL(sql.replace("?", "%s")) if self._placeholder == "%s" else sql, params)
        return list(cursor.fetchall()) if cursor.description else []


class AlertTables:
    """``IngestOutcomes``, ``Outbox`` and ``Silences`` on one database."""

    def __init__(self, db: Database) -> None:
        self._sql = Sql(db)
        self._p = self._sql.prefix

    def add(self, second: int, counts: Mapping[str, int]) -> None:
        with self._sql.transaction() as db:
            for outcome, n in sorted(counts.items()):
                db.run(
                    f"INSERT INTO {self._p}alert_ingest_outcomes VALUES (?, ?, ?)"
                    f" ON CONFLICT (second, outcome) DO UPDATE SET n = {self._p}alert_ingest_outcomes.n + excluded.n",
                    (second, outcome, n),
                )

    def totals(self, since: int, until: int) -> dict[str, int]:
        with self._sql.transaction() as db:
            rows = db.run(
                f"SELECT outcome, SUM(n) FROM {self._p}alert_ingest_outcomes WHERE second >= ? AND second <= ?"
                " GROUP BY outcome",
                (since, until),
            )
        return {outcome: int(n) for outcome, n in rows}

    def totals_per(self, since: int, until: int, step: int) -> dict[int, dict[str, int]]:
        with self._sql.transaction() as db:
            rows = db.run(
                f"SELECT (second - ?) / ? AS k, outcome, SUM(n) FROM {self._p}alert_ingest_outcomes"
                " WHERE second >= ? AND second <= ? GROUP BY k, outcome",
                (since, step, since, until),
            )
        found: dict[int, dict[str, int]] = {}
        for k, outcome, n in rows:
            found.setdefault(since + int(k) * step, {})[outcome] = int(n)
        return found

    def prune(self, before: int) -> None:
        with self._sql.transaction() as db:
            db.run(f"DELETE FROM {self._p}alert_ingest_outcomes WHERE second < ?", (before,))

    def enqueue(self, notifications: Sequence[Notification], now: datetime) -> int:
        added = 0
        with self._sql.transaction() as db:
            for n in notifications:
                rows = db.run(
                    f"INSERT INTO {self._p}alert_outbox (key, receiver, kind, target, subject, body, queued_at,"
                    " next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING RETURNING id",
                    (n.key, n.receiver, n.kind, n.target, n.subject, n.body, _stamp(now), _stamp(now)),
                )
                added += len(rows)
        return added

    def due(self, now: datetime, limit: int = 100) -> list[Notification]:
        with self._sql.transaction() as db:
            rows = db.run(
                f"SELECT {_COLUMNS} FROM {self._p}alert_outbox WHERE delivered_at IS NULL AND next_attempt_at <= ?"
                " ORDER BY id LIMIT ?",
                (_stamp(now), limit),
            )
        return [_notification(row) for row in rows]

    def delivered(self, notification_id: int, now: datetime) -> None:
        with self._sql.transaction() as db:
            db.run(f"UPDATE {self._p}alert_outbox SET delivered_at = ? WHERE id = ?", (_stamp(now), notification_id))

    def failed(self, notification_id: int, error: str, retry_at: datetime) -> None:
        with self._sql.transaction() as db:
            db.run(
                f"UPDATE {self._p}alert_outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?"
                " WHERE id = ?",
                (error[:500], _stamp(retry_at), notification_id),
            )

    def recent(self, limit: int = 100) -> list[Notification]:
        with self._sql.transaction() as db:
            rows = db.run(f"SELECT {_COLUMNS} FROM {self._p}alert_outbox ORDER BY id DESC LIMIT ?", (limit,))
        return [_notification(row) for row in reversed(rows)]

    def add_silence(self, silence: Silence) -> None:
        with self._sql.transaction() as db:
            db.run(
                f"INSERT INTO {self._p}alert_silences VALUES (?, ?)",
                (silence.id, msgspec.json.encode(silence).decode()),
            )

    def expire(self, silence_id: str, now: datetime) -> bool:
        with self._sql.transaction() as db:
            rows = db.run(f"SELECT body FROM {self._p}alert_silences WHERE id = ?", (silence_id,))
            if not rows:
                return False
            silence = msgspec.json.decode(rows[0][0], type=Silence)
            ended = msgspec.structs.replace(silence, ends_at=min(silence.ends_at, now))
            db.run(
                f"UPDATE {self._p}alert_silences SET body = ? WHERE id = ?",
                (msgspec.json.encode(ended).decode(), silence_id),
            )
        return True

    def all(self) -> list[Silence]:
        with self._sql.transaction() as db:
            rows = db.run(f"SELECT body FROM {self._p}alert_silences ORDER BY id")
        return [msgspec.json.decode(body, type=Silence) for (body,) in rows]

    def close(self) -> None:
        self._sql.close()


def _notification(row: tuple[Any, ...]) -> Notification:
    delivered = datetime.fromisoformat(row[8]) if row[8] else None
    return Notification(
        id=row[0],
        key=row[1],
        receiver=row[2],
        kind=row[3],
        target=row[4],
        subject=row[5],
        body=row[6],
        attempts=row[7],
        delivered_at=delivered,
        last_error=row[9],
    )


def build_alert_tables(db: Database) -> AlertTables:
    return AlertTables(db)
