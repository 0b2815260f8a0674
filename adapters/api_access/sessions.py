"""Dashboard sign-in links and sessions on SQLite (``addvalue.sessions.db``) or PostgreSQL
(``<schema>.dashboard_sessions``).

One table for both: a row per SHA-256 of a secret, its kind (``link`` or ``session``), whom it signs in,
the session's CSRF token and when it ends (seconds since the epoch). A link is taken by one
``DELETE … RETURNING``, so two browsers opening it at once cannot both be signed in.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from psycopg.sql import SQL, Identifier

from adapters.connections import SqliteFile, create_tables, postgres_pool, run_in_transaction
from adapters.database_url import Database
from application.api_access.ports import DashboardSession, SessionStore
from application.principals import Principal

__all__ = ["PostgresSessionStore", "SqliteSessionStore", "build_session_store"]

_WHAT: Final = "dashboard sessions"
_COLUMNS: Final = "(digest {blob} PRIMARY KEY, kind TEXT NOT NULL, role TEXT NOT NULL, subject TEXT NOT NULL,"
_REST: Final = " csrf TEXT, expires_at {real} NOT NULL)"
_PUT: Final = "INSERT INTO {t} VALUES (?, ?, ?, ?, ?, ?)"
_TAKE: Final = "DELETE FROM {t} WHERE digest = ? AND kind = 'link' RETURNING role, subject, expires_at"
_FIND: Final = "SELECT role, subject, csrf, expires_at FROM {t} WHERE digest = ? AND kind = 'session'"
_REVOKE: Final = "DELETE FROM {t} WHERE digest = ?"
_PRUNE: Final = "DELETE FROM {t} WHERE expires_at < ?"


class _Sessions(SessionStore):
    """The rules; subclasses run one statement in a transaction of their database."""

    def _run(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def put_link(self, digest: bytes, principal: Principal, expires_at: datetime) -> None:
        self._run(_PUT, (digest, "link", principal.role, principal.subject, None, expires_at.timestamp()))

    def take_link(self, digest: bytes, now: datetime) -> Principal | None:
        rows = self._run(_TAKE, (digest,))
        if not rows or rows[0][2] <= now.timestamp():
            return None
        return Principal(role=rows[0][0], subject=rows[0][1])

    def put_session(self, digest: bytes, session: DashboardSession) -> None:
        p = session.principal
        self._run(_PUT, (digest, "session", p.role, p.subject, session.csrf, session.expires_at.timestamp()))

    def session(self, digest: bytes, now: datetime) -> DashboardSession | None:
        rows = self._run(_FIND, (digest,))
        if not rows or rows[0][3] <= now.timestamp():
            return None
        role, subject, csrf, until = rows[0]
        expires = datetime.fromtimestamp(until, UTC)
        return DashboardSession(principal=Principal(role=role, subject=subject), csrf=csrf, expires_at=expires)

    def revoke(self, digest: bytes) -> None:
        self._run(_REVOKE, (digest,))

    def prune(self, now: datetime) -> None:
        self._run(_PRUNE, (now.timestamp(),))


class SqliteSessionStore(_Sessions):
    """Links and sessions in a SQLite file of their own."""

    def __init__(self, path: Path) -> None:
        self._file = SqliteFile(path, what=_WHAT)
        with self._file.transaction(write=True) as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS dashboard_sessions " + (_COLUMNS + _REST).format(blob="BLOB", real="REAL")
            )

    def _run(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._file.transaction(write=True) as db:
            return db.execute(sql.format(t="dashboard_sessions"), params).fetchall()

    def close(self) -> None:
        self._file.close()


class PostgresSessionStore(_Sessions):
    """Links and sessions in ``<schema>.dashboard_sessions``, on the shared pool of the small stores."""

    def __init__(self, url: str, *, schema: str = "public") -> None:
        self._table = SQL("{}.dashboard_sessions").format(Identifier(schema))
        self._pool = postgres_pool(url)
        columns = (_COLUMNS + _REST).format(blob="bytea", real="double precision")
        create_tables(
            self._pool,
            _WHAT,
            "addvalue.dashboard_sessions",
            schema,
            SQL("CREATE TABLE IF NOT EXISTS {} " + columns).format(self._table),
        )

    def _run(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        statement = SQL(sql.replace("{t}", "{}").replace("?", "%s")).format(self._table)

        def work(conn: Any) -> list[tuple[Any, ...]]:
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

        return run_in_transaction(self._pool, _WHAT, work)

    def close(self) -> None:
        self._pool.close()


def build_session_store(db: Database) -> SqliteSessionStore | PostgresSessionStore:
    """The dashboard sessions beside ``db``'s event store."""
    if db.kind == "sqlite":
        return SqliteSessionStore(db.sibling("sessions"))
    return PostgresSessionStore(db.url, schema=db.schema)
