"""The API access log on SQLite (``addvalue.audit.db``) or PostgreSQL (``<schema>.api_access_log``).

Each append is one transaction that reads the head, inserts the next records
(one, or a batch of concurrent requests' from ``append_many``) and moves the
head. Concurrent appenders queue on the head: SQLite's
``BEGIN IMMEDIATE`` lets one writer in at a time, in any process; PostgreSQL
locks the head row (``SELECT … FOR UPDATE``). So the chain has no gaps and
no forks however many workers write. ``verify`` reads in one snapshot
(SQLite WAL, PostgreSQL REPEATABLE READ), so appends may go on meanwhile.

The head carries a MAC over its seq and hash (column ``mac``), and an append
refuses a head whose MAC does not match: it would sign the continuation of a
truncated log. Logs from before the MAC get the column when first opened, in
the transaction that signs the head they have then (``_UPGRADE``).

A log knows the keys of every root secret (``earlier`` and ``key``): records
before an anchor verify under an earlier one, new records and the head are
sealed under ``key``. ``rechain`` (``addvalue keys rotate-root``) verifies and
appends the anchors in one write transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import msgspec
import psycopg
import structlog
from psycopg.sql import SQL, Composed, Identifier

from adapters.connections import SqliteFile, create_tables, postgres_pool, run_in_transaction
from adapters.database_url import Database
from application.api_access.access_log import (
    GENESIS_HASH,
    ChainHead,
    SignedHead,
    UnreadableRecord,
    authentic_head,
    head_mac,
    rechained,
    seal,
    verify_chain,
)
from application.api_access.ports import AccessEntry, AccessLog, AccessRecord, VerifyReport
from application.errors import StorageError

__all__ = ["MAX_PAGE", "PostgresAccessLog", "SqliteAccessLog", "build_access_log"]

log = structlog.get_logger(__name__)

MAX_PAGE: Final = 1000
_READ_BATCH: Final = 2000
_COLUMNS: Final = "seq, at, principal, role, method, route, status, outcome, prev_hash, hash, requests, about"
_NO_HEAD: Final = "the access log's head row is missing (deleted?): run `addvalue audit verify`"
_UPGRADE: Final = "adding the head's MAC to an access log written before it"
# Columns added since the first version; older logs get them when opened, their records keep the defaults (which the
# hash leaves out, so their hashes still match).
_ADDED_COLUMNS: Final = {
    "requests": "ALTER TABLE {log} ADD COLUMN requests integer NOT NULL DEFAULT 1",
    "about": "ALTER TABLE {log} ADD COLUMN about text NOT NULL DEFAULT ''",
}
_ROWS: Final = msgspec.json.Encoder()  # records as JSON rows, by field name: json_populate_recordset reads them


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}, not {limit}")


def _record(row: tuple[Any, ...]) -> AccessRecord:
    seq, at, *rest = row
    try:
        when = datetime.fromisoformat(at) if isinstance(at, str) else at
        when = when.astimezone(UTC)
    except (TypeError, ValueError, AttributeError) as e:
        raise UnreadableRecord(seq, f"its time {at!r} is not a timestamp ({e})") from None
    principal, role, method, route, status, outcome, prev_hash, hash_, requests, about = rest
    return AccessRecord(
        seq=seq,
        at=when,
        principal=principal,
        role=role,
        method=method,
        route=route,
        status=status,
        outcome=outcome,
        prev_hash=prev_hash,
        hash=hash_,
        requests=requests,
        about=about,
    )


def _head(row: tuple[Any, ...] | None) -> SignedHead | None:
    return None if row is None else SignedHead(seq=row[0], hash=row[1], mac=row[2])


def _appendable(row: tuple[Any, ...] | None, key: bytes | None) -> ChainHead:
    """The head to append after: present and authentic, or StorageError (TamperedHead) says why not."""
    head = _head(row)
    if head is None:
        raise StorageError(_NO_HEAD)
    return authentic_head(head, key)


def _all(batch_after: Callable[[int], list[tuple[Any, ...]]]) -> Iterator[AccessRecord]:
    """Every record in seq order, read in batches (keyset paging: each batch is one indexed range)."""
    after = 0
    while rows := batch_after(after):
        yield from (_record(r) for r in rows)
        after = rows[-1][0]


def _values(record: AccessRecord, at: object) -> tuple[Any, ...]:
    r = record
    return (
        r.seq,
        at,
        r.principal,
        r.role,
        r.method,
        r.route,
        r.status,
        r.outcome,
        r.prev_hash,
        r.hash,
        r.requests,
        r.about,
    )


def _sealed(entries: Sequence[AccessEntry], head: ChainHead, key: bytes | None) -> list[AccessRecord]:
    """``entries`` as the records that follow ``head``, each linked to the one before."""
    records = []
    for entry in entries:
        record = seal(entry, head, key)
        records.append(record)
        head = ChainHead(seq=record.seq, hash=record.hash)
    return records


class SqliteAccessLog(AccessLog):
    """The access log in a SQLite file of its own (tables ``api_access_log``, ``api_access_head``)."""

    def __init__(self, path: Path, *, key: bytes | None = None, earlier: Sequence[bytes] = ()) -> None:
        self._key, self._earlier = key, list(earlier)
        self._file = SqliteFile(path, what="access log")
        with self._file.transaction(write=True) as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS api_access_log (seq INTEGER PRIMARY KEY, at TEXT NOT NULL,"
                " principal TEXT NOT NULL, role TEXT NOT NULL, method TEXT NOT NULL, route TEXT NOT NULL,"
                " status INTEGER NOT NULL, outcome TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,"
                " requests INTEGER NOT NULL DEFAULT 1, about TEXT NOT NULL DEFAULT '') STRICT"
            )
            have = {c[1] for c in db.execute("PRAGMA table_info(api_access_log)")}
            for column, add in _ADDED_COLUMNS.items():
                if column not in have:
                    db.execute(add.format(log="api_access_log"))
            db.execute(
                "CREATE TABLE IF NOT EXISTS api_access_head (id INTEGER PRIMARY KEY CHECK (id = 1),"
                " seq INTEGER NOT NULL, hash TEXT NOT NULL, mac TEXT NOT NULL) STRICT"
            )
            columns = {c[1] for c in db.execute("PRAGMA table_info(api_access_head)")}
            if "mac" not in columns:
                log.warning("audit.head_upgrade", what=_UPGRADE)
                db.execute("ALTER TABLE api_access_head ADD COLUMN mac TEXT NOT NULL DEFAULT ''")
                for seq, hash_ in db.execute("SELECT seq, hash FROM api_access_head").fetchall():
                    db.execute("UPDATE api_access_head SET mac = ?", (head_mac(seq, hash_, key),))
            genesis = head_mac(0, GENESIS_HASH, key)
            db.execute("INSERT OR IGNORE INTO api_access_head VALUES (1, 0, ?, ?)", (GENESIS_HASH, genesis))

    def append(self, entry: AccessEntry) -> AccessRecord:
        return self.append_many([entry])[0]

    def append_many(self, entries: Sequence[AccessEntry]) -> list[AccessRecord]:
        if not entries:
            return []
        with self._file.transaction(write=True) as db:
            row = db.execute("SELECT seq, hash, mac FROM api_access_head WHERE id = 1").fetchone()
            records = _sealed(entries, _appendable(row, self._key), self._key)
            db.executemany(
                f"INSERT INTO api_access_log ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [_values(r, r.at.isoformat()) for r in records],
            )
            last = records[-1]
            mac = head_mac(last.seq, last.hash, self._key)
            db.execute("UPDATE api_access_head SET seq = ?, hash = ?, mac = ? WHERE id = 1", (last.seq, last.hash, mac))
        return records

    def page(self, after_seq: int, limit: int) -> list[AccessRecord]:
        _check_limit(limit)
        with self._file.transaction(write=False) as db:
            return [_record(r) for r in db.execute(self._after_sql(), (after_seq, limit)).fetchall()]

    def verify(self) -> VerifyReport:
        with self._file.transaction(write=False) as db:
            head = _head(db.execute("SELECT seq, hash, mac FROM api_access_head WHERE id = 1").fetchone())
            batch = _all(lambda after: db.execute(self._after_sql(), (after, _READ_BATCH)).fetchall())
            return verify_chain(batch, head, self._key, earlier=self._earlier)

    def rechain(self, keys: Sequence[bytes], at: datetime) -> list[AccessRecord]:
        with self._file.transaction(write=True) as db:
            head = _head(db.execute("SELECT seq, hash, mac FROM api_access_head WHERE id = 1").fetchone())
            batch = _all(lambda after: db.execute(self._after_sql(), (after, _READ_BATCH)).fetchall())
            anchors = rechained(batch, head, keys, at)
            if anchors:
                db.executemany(
                    f"INSERT INTO api_access_log ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    [_values(r, r.at.isoformat()) for r in anchors],
                )
                last = anchors[-1]
                mac = head_mac(last.seq, last.hash, keys[-1])
                db.execute(
                    "UPDATE api_access_head SET seq = ?, hash = ?, mac = ? WHERE id = 1", (last.seq, last.hash, mac)
                )
        self._key, self._earlier = keys[-1], list(keys[:-1])
        return anchors

    @staticmethod
    def _after_sql() -> str:
        return f"SELECT {_COLUMNS} FROM api_access_log WHERE seq > ? ORDER BY seq LIMIT ?"

    def close(self) -> None:
        self._file.close()


class PostgresAccessLog(AccessLog):
    """The access log in tables ``api_access_log`` and ``api_access_head`` of ``schema``."""

    def __init__(
        self, conninfo: str, *, schema: str = "public", key: bytes | None = None, earlier: Sequence[bytes] = ()
    ) -> None:
        self._key, self._earlier = key, list(earlier)
        self._log = SQL("{}.api_access_log").format(Identifier(schema))
        self._head = SQL("{}.api_access_head").format(Identifier(schema))
        # Run for every API request's batch: composed once (composing costs more than sending).
        self._lock_head = SQL("SELECT seq, hash, mac FROM {} WHERE id = 1 FOR UPDATE").format(self._head).as_bytes()
        self._append = (
            SQL(
                "WITH added AS (INSERT INTO {log} ({columns}) SELECT {columns}"
                " FROM json_populate_recordset(NULL::{log}, %s::json))"
                " UPDATE {head} SET seq = %s, hash = %s, mac = %s WHERE id = 1"
            )
            .format(log=self._log, columns=SQL(_COLUMNS), head=self._head)
            .as_bytes()
        )
        self._pool = postgres_pool(conninfo)
        log = SQL(
            "CREATE TABLE IF NOT EXISTS {} (seq bigint PRIMARY KEY, at timestamptz NOT NULL,"
            " principal text NOT NULL, role text NOT NULL, method text NOT NULL, route text NOT NULL,"
            " status integer NOT NULL, outcome text NOT NULL, prev_hash text NOT NULL, hash text NOT NULL,"
            " requests integer NOT NULL DEFAULT 1, about text NOT NULL DEFAULT '')"
        ).format(self._log)
        added = [
            SQL(a.replace("ADD COLUMN", "ADD COLUMN IF NOT EXISTS")).format(log=self._log)
            for a in _ADDED_COLUMNS.values()
        ]
        head = SQL(
            "CREATE TABLE IF NOT EXISTS {} (id smallint PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL,"
            " hash text NOT NULL, mac text NOT NULL)"
        ).format(self._head)
        create_tables(self._pool, "access log", "addvalue.api_access_log", schema, log, *added, head)
        run_in_transaction(self._pool, "access log", lambda conn: self._sign_head(conn, schema))

    def append(self, entry: AccessEntry) -> AccessRecord:
        return self.append_many([entry])[0]

    def append_many(self, entries: Sequence[AccessEntry]) -> list[AccessRecord]:
        if not entries:
            return []

        def work(conn: psycopg.Connection[tuple[Any, ...]]) -> list[AccessRecord]:
            records = _sealed(entries, _appendable(conn.execute(self._lock_head).fetchone(), self._key), self._key)
            last = records[-1]
            # One statement for the batch, with one parameter: the rows as JSON (one string to send, where ten
            # arrays cost psycopg more than the rest of the write), and the head moved to the last of them.
            mac = head_mac(last.seq, last.hash, self._key)
            conn.execute(self._append, (_ROWS.encode(records).decode(), last.seq, last.hash, mac))
            return records

        return run_in_transaction(self._pool, "access log", work)

    def page(self, after_seq: int, limit: int) -> list[AccessRecord]:
        _check_limit(limit)
        return run_in_transaction(
            self._pool,
            "access log",
            lambda conn: [_record(r) for r in conn.execute(self._after_sql(), (after_seq, limit))],
        )

    def verify(self) -> VerifyReport:
        def work(conn: psycopg.Connection[tuple[Any, ...]]) -> VerifyReport:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            head = _head(conn.execute(SQL("SELECT seq, hash, mac FROM {} WHERE id = 1").format(self._head)).fetchone())
            batch = _all(lambda after: conn.execute(self._after_sql(), (after, _READ_BATCH)).fetchall())
            return verify_chain(batch, head, self._key, earlier=self._earlier)

        return run_in_transaction(self._pool, "access log", work)

    def rechain(self, keys: Sequence[bytes], at: datetime) -> list[AccessRecord]:
        def work(conn: psycopg.Connection[tuple[Any, ...]]) -> list[AccessRecord]:
            head = _head(conn.execute(self._lock_head).fetchone())  # appenders wait until the anchors are in
            batch = _all(lambda after: conn.execute(self._after_sql(), (after, _READ_BATCH)).fetchall())
            anchors = rechained(batch, head, keys, at)
            if anchors:
                last = anchors[-1]
                mac = head_mac(last.seq, last.hash, keys[-1])
                conn.execute(self._append, (_ROWS.encode(anchors).decode(), last.seq, last.hash, mac))
            return anchors

        anchors = run_in_transaction(self._pool, "access log", work)
        self._key, self._earlier = keys[-1], list(keys[:-1])
        return anchors

    def _sign_head(self, conn: psycopg.Connection[tuple[Any, ...]], schema: str) -> None:
        """The genesis head of a new log; a head table from before the MAC gets the column and its head signed,
        once (under create_tables's lock, so one process does it)."""
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("addvalue.api_access_log",))
        found = conn.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = %s AND table_name = 'api_access_head'"
            " AND column_name = 'mac'",
            (schema,),
        ).fetchone()
        if found is None:
            log.warning("audit.head_upgrade", what=_UPGRADE)
            conn.execute(SQL("ALTER TABLE {} ADD COLUMN mac text NOT NULL DEFAULT ''").format(self._head))
            for seq, hash_ in conn.execute(SQL("SELECT seq, hash FROM {}").format(self._head)).fetchall():
                conn.execute(SQL("UPDATE {} SET mac = %s").format(self._head), (head_mac(seq, hash_, self._key),))
        genesis = SQL("INSERT INTO {} VALUES (1, 0, %s, %s) ON CONFLICT DO NOTHING").format(self._head)
        conn.execute(genesis, (GENESIS_HASH, head_mac(0, GENESIS_HASH, self._key)))

    def _after_sql(self) -> Composed:
        return SQL("SELECT {} FROM {} WHERE seq > %s ORDER BY seq LIMIT %s").format(SQL(_COLUMNS), self._log)

    def close(self) -> None:
        self._pool.close()


def build_access_log(
    db: Database, key: bytes | None, *, earlier: Sequence[bytes] = ()
) -> SqliteAccessLog | PostgresAccessLog:
    """The access log beside ``db``'s event store; ``key`` (HMAC) keeps a DB writer from re-forging the chain.

    ``earlier``: the keys of the earlier root secrets, oldest first, for the records before each re-chain anchor.
    """
    if db.kind == "sqlite":
        return SqliteAccessLog(db.sibling("audit"), key=key, earlier=earlier)
    return PostgresAccessLog(db.url, schema=db.schema, key=key, earlier=earlier)
