"""The outbox in the app's PostgreSQL database (``addvalue_outbox``), with psycopg.

One connection per outbox for the relay: it LISTENs between batches (autocommit)
and takes each batch in a transaction of its own (``FOR UPDATE SKIP LOCKED``,
so two followers never take the same row). Status figures use a short
connection of their own, so another thread (the alert loop) may ask at any time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Final

import msgspec
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from adapters.sources.outbox_sql import CHANNEL, INSTALL_SQL, UNINSTALL_SQL
from application.errors import StorageError
from application.sources.ports import AppOutbox, OutboxRow, OutboxStatus, Verdicts

__all__ = ["OutboxNotInstalled", "OutboxUnavailable", "PostgresOutbox", "install", "outbox_name", "uninstall"]

_CONNECT_TIMEOUT: Final = 2
_TAKE: Final = (
    "SELECT id, payload::text FROM addvalue_outbox.events WHERE state = 'pending' "
    "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED"
)
_STATUS: Final = (
    "SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'delivered'), "
    "count(*) FILTER (WHERE state = 'rejected'), "
    "extract(epoch FROM now() - min(emitted_at) FILTER (WHERE state = 'pending'))::float8 "
    "FROM addvalue_outbox.events"
)
# Functions outside the outbox whose body calls emit(): dropping the schema would break them (and the app).
_CALLERS: Final = (
    "SELECT format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) "
    "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
    "WHERE n.nspname <> 'addvalue_outbox' AND p.prosrc LIKE '%addvalue_outbox.emit%' ORDER BY 1"
)


class OutboxUnavailable(StorageError):
    """The app's database cannot be reached, or failed; the message names the outbox."""


class OutboxNotInstalled(OutboxUnavailable):
    """The app's database has no ``addvalue_outbox`` schema: run ``addvalue outbox install``."""


def outbox_name(url: str) -> str:
    """``host:port/dbname`` of a libpq URL: what status and metrics call it (never a user or password)."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError as e:
        raise ValueError(f"not a PostgreSQL connection URL ({e})") from None
    return f"{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}/{parts.get('dbname') or ''}"


class PostgresOutbox(AppOutbox):
    def __init__(self, url: str) -> None:
        self._url = url
        self._name = outbox_name(url)
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None
        self._lock = threading.Lock()  # the relay connection is used by one thread at a time

    @property
    def name(self) -> str:
        return self._name

    def deliver(self, limit: int, judge: Callable[[Sequence[OutboxRow]], Verdicts]) -> int:
        with self._lock, self._failures():
            conn = self._connection()
            with conn.transaction():
                rows = [OutboxRow(id=i, payload=text.encode()) for i, text in conn.execute(_TAKE, (limit,))]
                if not rows:
                    return 0
                verdicts = judge(rows)  # the rows stay locked meanwhile; an exception rolls back: still pending
                _mark(conn, verdicts)
            return len(rows)

    def purge(self, older_than: timedelta) -> int:
        with self._lock, self._failures():
            cursor = self._connection().execute(
                "DELETE FROM addvalue_outbox.events WHERE state = 'delivered' "
                "AND handled_at < now() - make_interval(secs => %s)",
                (older_than.total_seconds(),),
            )
            return cursor.rowcount

    def status(self) -> OutboxStatus:
        with self._failures(), _connect(self._url, autocommit=True) as conn:
            row = conn.execute(_STATUS).fetchone()
        assert row is not None
        pending, delivered, rejected, oldest = row
        return OutboxStatus(
            outbox=self._name, pending=pending, delivered=delivered, rejected=rejected, oldest_pending_seconds=oldest
        )

    def wait(self, timeout: float) -> bool:
        with self._lock, self._failures():
            for _ in self._connection().notifies(timeout=timeout, stop_after=1):
                return True
            return False

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _connection(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._conn is None or self._conn.closed:
            self._conn = _connect(self._url, autocommit=True)
            self._conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _failures(self) -> _Translated:
        return _Translated(self._name, self._drop)


class _Translated:
    """Driver errors as ours, naming the outbox; the relay connection is dropped, to be opened afresh."""

    def __init__(self, name: str, drop: Callable[[], None]) -> None:
        self._name = name
        self._drop = drop

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> None:
        if error is None:
            return
        if not isinstance(error, psycopg.Error):
            return  # the judge's own error (ingestion's storage, say): the transaction was rolled back
        self._drop()
        if isinstance(error, psycopg.errors.UndefinedTable | psycopg.errors.InvalidSchemaName):
            raise OutboxNotInstalled(
                f"outbox {self._name}: the schema addvalue_outbox is missing; "
                f"run addvalue outbox install --database-url <its URL>"
            ) from error
        raise OutboxUnavailable(f"outbox {self._name}: {error}") from error


def _mark(conn: psycopg.Connection[tuple[Any, ...]], verdicts: Verdicts) -> None:
    if verdicts.delivered:
        conn.execute(
            "UPDATE addvalue_outbox.events SET state = 'delivered', handled_at = now() WHERE id = ANY(%s)",
            (verdicts.delivered,),
        )
    if verdicts.rejected:
        ids = list(verdicts.rejected)
        reasons = [msgspec.json.encode(errors).decode() for errors in verdicts.rejected.values()]
        conn.execute(
            "UPDATE addvalue_outbox.events AS e SET state = 'rejected', handled_at = now(), reasons = r.reasons "
            "FROM unnest(%s::bigint[], %s::jsonb[]) AS r(id, reasons) WHERE e.id = r.id",
            (ids, reasons),
        )


def _connect(url: str, *, autocommit: bool) -> psycopg.Connection[tuple[Any, ...]]:
    return psycopg.connect(url, autocommit=autocommit, connect_timeout=_CONNECT_TIMEOUT)


def install(url: str) -> None:
    """Create (or leave as it is) the schema, table and ``emit`` function in the database at ``url``."""
    with _Translated(outbox_name(url), lambda: None), _connect(url, autocommit=False) as conn:
        conn.execute(INSTALL_SQL)


def uninstall(url: str, *, force: bool = False) -> list[str]:
    """Drop the schema; refused (the functions that call ``emit``, returned) while any exist, unless ``force``."""
    with _Translated(outbox_name(url), lambda: None), _connect(url, autocommit=False) as conn:
        callers = [name for (name,) in conn.execute(_CALLERS)]
        if callers and not force:
            return callers
        conn.execute(UNINSTALL_SQL)
    return []
