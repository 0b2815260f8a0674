"""From ``ADDVALUE_DATABASE_URL`` to the library's configuration and our key store.

SQLite: the URL names the event store file; the key store and each read model
get sibling files (``addvalue.keys.db``, ``addvalue.<view>.db``), because the
library's SQLite recorders use fixed table names per file.
PostgreSQL: one database; events in ``<schema>.addvalue_events``, keys in
schema ``<schema>_keys`` (``addvalue_keys`` for the default ``public``).
"""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from urllib.parse import unquote, urlsplit

import psycopg
from eventsourcing.persistence import InfrastructureFactoryError
from eventsourcing.postgres import PostgresFactory
from eventsourcing.utils import Environment, get_topic
from psycopg.rows import dict_row

from adapters.database_url import Database
from adapters.encryption.key_check import key_store_exists, key_store_schema
from adapters.encryption.keystore import PostgresKeyStore, SqliteKeyStore
from adapters.encryption.subject_keys import KEY_CACHE_SECONDS
from adapters.eventstore.recorders import PostgresIngestRecorder, SqliteIngestRecorder
from adapters.local_files import private_dir, private_file
from application.errors import StorageError

__all__ = [
    "UrlPostgresFactory",
    "build_key_store",
    "event_store_env",
    "key_store_fingerprint",
    "ping",
    "prepare_database",
    "tables_created_one_at_a_time",
]


class UrlPostgresFactory(PostgresFactory):
    """The library's PostgreSQL factory, its pool connecting with the whole ``ADDVALUE_DATABASE_URL``.

    The library builds its pool from host, port, database, user and password only, so
    ``sslmode``, ``sslrootcert``, ``application_name``, ``options``, ``target_session_attrs``
    and every other libpq parameter of the URL would reach the key store and the small
    stores but not the event store and the views. Here the URL is the pool's conninfo
    and nothing overrides it; the pool is still unopened, so no connection was made yet.
    """

    POSTGRES_CONNINFO = "POSTGRES_CONNINFO"  # ours: the URL, as libpq reads it

    def __init__(self, env: Environment) -> None:
        super().__init__(env)
        conninfo = self.env.get(self.POSTGRES_CONNINFO)
        if not conninfo:
            raise InfrastructureFactoryError(f"{self.POSTGRES_CONNINFO} is required (see event_store_env)")
        self.datastore.pool.conninfo = conninfo
        self.datastore.pool.kwargs = {"row_factory": dict_row}


def event_store_env(db: Database) -> dict[str, str]:
    """The eventsourcing library's settings for our application (see its docs)."""
    if db.kind == "sqlite":
        assert db.sqlite_path is not None
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(private_file(db.sqlite_path)),
            "SQLITE_LOCK_TIMEOUT": "30",
            "APPLICATION_RECORDER_TOPIC": get_topic(SqliteIngestRecorder),
        }
    parts = urlsplit(db.url)
    return {
        "PERSISTENCE_MODULE": get_topic(UrlPostgresFactory),
        # Every connection parameter comes from here; the library still wants the POSTGRES_* below.
        UrlPostgresFactory.POSTGRES_CONNINFO: db.url,
        "POSTGRES_DBNAME": parts.path.strip("/"),
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_SCHEMA": db.schema,
        "POSTGRES_POOL_SIZE": "4",
        # While the database is down, answer 503 within seconds instead of queueing
        # for a pool connection for the library's default 30 s. Pooled connections are
        # checked before use without a round trip instead of the library's pre-ping
        # (see adapters.connections.check_without_round_trip): each recorder installs it.
        "POSTGRES_CONNECT_TIMEOUT": "2",
        "POSTGRES_PRE_PING": "n",
        "APPLICATION_RECORDER_TOPIC": get_topic(PostgresIngestRecorder),
    }


def build_key_store(
    db: Database, master_key: bytes, *, cache_seconds: float = KEY_CACHE_SECONDS
) -> SqliteKeyStore | PostgresKeyStore:
    if db.kind == "sqlite":
        return SqliteKeyStore(db.sibling("keys"), master_key, cache_seconds=cache_seconds)
    return PostgresKeyStore(db.url, master_key, schema=key_store_schema(db), cache_seconds=cache_seconds)


def key_store_fingerprint(db: Database, master_key: bytes) -> str | None:
    """The fingerprint of the key store ``db`` names, or None if it has none; never creates one."""
    if not key_store_exists(db):
        return None
    keys = build_key_store(db, master_key)
    try:
        return keys.fingerprint
    finally:
        if isinstance(keys, PostgresKeyStore):
            keys.close()


def prepare_database(db: Database) -> None:
    """Check the database is reachable, and create the schema (the library creates only tables)."""
    if db.kind == "sqlite":
        assert db.sqlite_path is not None
        private_dir(db.sqlite_path.parent)
        return
    try:
        with psycopg.connect(db.url, autocommit=True, connect_timeout=10) as conn:
            if db.schema != "public":
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{db.schema}"')
    except psycopg.Error as e:
        raise StorageError(f"ADDVALUE_DATABASE_URL: cannot use PostgreSQL: {e}") from e


@contextmanager
def tables_created_one_at_a_time(db: Database) -> Iterator[None]:
    """Hold a lock while this process creates its tables: on PostgreSQL two processes starting at once
    (serve and a worker, or serve's workers) would otherwise collide in CREATE … IF NOT EXISTS
    ("tuple concurrently updated"); on SQLite in the library's own migration records. A PostgreSQL
    advisory lock, or an exclusive lock on a file beside the SQLite database."""
    if db.kind == "sqlite":
        assert db.sqlite_path is not None
        private_dir(db.sqlite_path.parent)
        with open(db.sibling("create").with_suffix(".lock"), "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)  # released when the file is closed
            yield
        return
    try:
        conn = psycopg.connect(db.url, autocommit=True, connect_timeout=10)
    except psycopg.Error as e:
        raise StorageError(f"ADDVALUE_DATABASE_URL: cannot use PostgreSQL: {e}") from e
    with conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"addvalue:create-tables:{db.schema}",))
        yield  # the lock goes with the connection


def ping(db: Database, *, timeout: float = 2.0) -> bool:
    """One short query on a fresh connection, with no retries: for readiness checks."""
    try:
        if db.kind == "sqlite":
            assert db.sqlite_path is not None
            with closing(sqlite3.connect(f"file:{db.sqlite_path}?mode=ro", uri=True, timeout=timeout)) as conn:
                conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            return True
        with psycopg.connect(db.url, connect_timeout=max(int(timeout), 1)) as conn:
            conn.execute("SELECT 1")
        return True
    except (sqlite3.Error, psycopg.Error):
        return False
