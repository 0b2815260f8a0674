"""Backups of the event store and the service's other databases, never of the keys.

A backup is a folder: ``manifest.json``, the databases, and ``archive/`` (the
archive's Parquet files). SQLite: each ``addvalue*.db`` file beside the event
store except the key store, copied with SQLite's online backup API.
PostgreSQL: ``pg_dump`` of the service's schema in its custom format
(compressed; ``events.sql``, plain SQL, in backups made before issue 14); the
key store lives in the schema ``<schema>_keys``, which is not dumped. The databases are copied before
the archive: a concurrent archive run renames its file before deleting the
rows, so every row is in one copy or the other (both at worst; readers skip
the second copy).

Events stay encrypted under their person's key, so a restored backup is
readable only with the live key store: a key destroyed since the backup was
taken leaves that person's events in it unreadable too. The manifest names
the key store it needs (``key_store``, its fingerprint), and a restore refuses
a live key store that is another one (or none).

:class:`BackupFolder` is where the daily ``backup`` job writes: one folder per
run, named by its time, and the deletion of those past their retention.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

import msgspec
import psycopg
from psycopg.sql import SQL, Identifier

from adapters.database_url import Database
from adapters.encryption.key_check import REF_TABLE, key_store_location
from adapters.eventstore.persistence import key_store_fingerprint
from adapters.local_files import private_dir

__all__ = ["BackupError", "BackupFolder", "BackupManifest", "create_backup", "default_backup_dir", "restore_backup"]

_MANIFEST: Final = "manifest.json"
_DUMP: Final = "events.dump"  # pg_dump --format=custom
_PLAIN_DUMP: Final = "events.sql"  # plain SQL, in backups made before issue 14
_STAMP: Final = "%Y%m%dT%H%M%S.%f"
_NAMED: Final = re.compile(r"addvalue-(\d{8}T\d{6}\.\d{6})Z")
_ARCHIVE: Final = "archive"


class BackupError(Exception):
    """A backup cannot be made or restored; the message says why and what to do."""


class BackupManifest(msgspec.Struct, frozen=True, kw_only=True):
    """What a backup holds, with a SHA-256 of each file to check before restoring."""

    format: int = 1
    kind: Literal["sqlite", "postgresql"]
    schema: str | None
    created_at: datetime
    files: dict[str, str]
    keys_included: bool = False
    # The fingerprint of the key store whose keys the events need (None: no key store, or an older backup).
    key_store: str | None = None


def default_backup_dir(db: Database) -> Path:
    """``backups/`` beside the SQLite files; ``var/backups/<schema>`` on PostgreSQL (as the archive's folder)."""
    if db.sqlite_path is not None:
        return db.sqlite_path.parent / "backups"
    return Path("var") / "backups" / db.schema


class BackupFolder:
    """The backup job's folder (``ADDVALUE_BACKUP_DIR``): ``addvalue-<UTC time>Z/``, one backup per run.

    Implements application.retention.ports.Backups.
    """

    def __init__(self, db: Database, archive_dir: Path, folder: Path, master_key: bytes) -> None:
        self._db = db
        self._archive_dir = archive_dir
        self.folder = folder
        self._master_key = master_key

    def write(self, at: datetime) -> str:
        """A new backup, made under a hidden name and renamed once whole: a failed run leaves none half-made."""
        private_dir(self.folder)
        name = f"addvalue-{at.astimezone(UTC).strftime(_STAMP)}Z"
        partial = self.folder / f".{name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        try:
            live = key_store_fingerprint(self._db, self._master_key)
            create_backup(self._db, self._archive_dir, partial, key_store=live, created_at=at)
            partial.rename(self.folder / name)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return str(self.folder / name)

    def delete_before(self, cutoff: datetime) -> list[str]:
        """Delete the backups this folder's job made before ``cutoff`` (by their names); nothing else is touched."""
        if not self.folder.is_dir():
            return []
        deleted = []
        for path in sorted(self.folder.iterdir()):
            named = _NAMED.fullmatch(path.name)
            if named is None or not path.is_dir():
                continue
            if datetime.strptime(named[1], _STAMP).replace(tzinfo=UTC) < cutoff:
                shutil.rmtree(path)
                deleted.append(str(path))
        return deleted


def create_backup(
    db: Database, archive_dir: Path, target: Path, *, key_store: str | None, created_at: datetime | None = None
) -> BackupManifest:
    """Write a backup into ``target``, a folder that must not exist yet or be empty.

    ``key_store``: the live key store's fingerprint, recorded so that a restore can say which one it needs.
    """
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"{target} is not empty: give a new folder for the backup")
    target.mkdir(parents=True, exist_ok=True)
    if db.kind == "sqlite":
        for source in _sqlite_files(db):
            with (
                closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src,
                closing(sqlite3.connect(target / source.name)) as dst,
            ):
                src.backup(dst)
    else:
        _run(
            [
                "pg_dump",
                "--format=custom",
                f"--schema={_quoted(db.schema)}",
                "--no-owner",
                "--no-privileges",
                f"--file={target / _DUMP}",
            ],
            db,
        )
    if archive_dir.is_dir():
        (target / _ARCHIVE).mkdir()
        for path in sorted(archive_dir.glob("*.parquet")):
            shutil.copy2(path, target / _ARCHIVE / path.name)
    files = {str(p.relative_to(target)): _sha256(p) for p in sorted(target.rglob("*")) if p.is_file()}
    manifest = BackupManifest(
        kind=db.kind,
        schema=db.schema if db.kind == "postgresql" else None,
        created_at=created_at or datetime.now(UTC),
        files=files,
        key_store=key_store,
    )
    (target / _MANIFEST).write_bytes(msgspec.json.format(msgspec.json.encode(manifest)))
    return manifest


def restore_backup(db: Database, archive_dir: Path, source: Path, *, key_store: str | None) -> BackupManifest:
    """Restore a backup into an empty event store; stop the service first.

    ``key_store``: the live key store's fingerprint (None if there is none); it must be the one the backup needs.
    """
    manifest = _checked_manifest(db, source)
    _check_key_store(db, manifest, key_store)
    if any(archive_dir.glob("*.parquet")):
        raise BackupError(f"the archive folder {archive_dir} is not empty: restore only into an empty event store")
    if db.kind == "sqlite":
        _restore_sqlite(db, source, manifest)
    else:
        _restore_postgres(db, source)
    if (source / _ARCHIVE).is_dir():
        archive_dir.mkdir(parents=True, exist_ok=True)
        for path in sorted((source / _ARCHIVE).glob("*.parquet")):
            shutil.copy2(path, archive_dir / path.name)
    return manifest


def _checked_manifest(db: Database, source: Path) -> BackupManifest:
    try:
        manifest = msgspec.json.decode((source / _MANIFEST).read_bytes(), type=BackupManifest)
    except (OSError, msgspec.DecodeError) as e:
        raise BackupError(f"{source} is not a backup made by 'addvalue backup create': {e}") from None
    if manifest.kind != db.kind:
        raise BackupError(f"this backup is of a {manifest.kind} store; ADDVALUE_DATABASE_URL names a {db.kind} one")
    if manifest.kind == "postgresql" and manifest.schema != db.schema:
        raise BackupError(
            f"this backup is of the schema {manifest.schema!r}, and restores into a schema of that name: "
            f"set ADDVALUE_DATABASE_SCHEMA={manifest.schema} (in another database if that one is in use)"
        )
    for name, digest in manifest.files.items():
        if _sha256(source / name) != digest:
            raise BackupError(f"{source / name} differs from the manifest: the backup is damaged")
    return manifest


def _check_key_store(db: Database, manifest: BackupManifest, live: str | None) -> None:
    """Refuse before anything is written if the events would land beside the wrong key store, or none."""
    if manifest.key_store is None or manifest.key_store == live:  # older backups do not say
        return
    where = key_store_location(db)
    found = "does not exist" if live is None else f"is key store {live}, another one"
    raise BackupError(
        f"this backup expects key store {manifest.key_store}, and {where} {found}: put key store "
        f"{manifest.key_store} in place (from its own backup) first, then restore this backup. The events in "
        "it are readable only with the keys of that key store"
    )


def _restore_sqlite(db: Database, source: Path, manifest: BackupManifest) -> None:
    assert db.sqlite_path is not None
    if _holds_rows(db.sqlite_path):
        raise BackupError(f"{db.sqlite_path} already holds events: restore only into an empty event store")
    db.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    for name in manifest.files:
        if "/" in name or not name.endswith(".db"):
            continue
        target = db.sqlite_path.parent / name
        for leftover in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
            leftover.unlink(missing_ok=True)
        shutil.copy2(source / name, target)


def _holds_rows(path: Path) -> bool:
    if not path.exists():
        return False
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        # The key-store record alone is no data: a process started on the empty store writes it.
        names = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        tables = [name for (name,) in names if name != REF_TABLE]
        return any(conn.execute(f'SELECT 1 FROM "{t}" LIMIT 1').fetchone() for t in tables)


def _restore_postgres(db: Database, source: Path) -> None:
    with psycopg.connect(db.url, autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (db.schema,)
            )
        ]
        for table in (t for t in tables if t != REF_TABLE):
            if conn.execute(
                SQL("SELECT 1 FROM {}.{} LIMIT 1").format(Identifier(db.schema), Identifier(table))
            ).fetchone():
                raise BackupError(
                    f"the schema {db.schema!r} is not empty ({table} has rows): restore only into an empty schema"
                )
    # One transaction: the empty schema (tables the service created, no rows) goes, the dump comes in whole.
    drop = f"DROP SCHEMA IF EXISTS {_quoted(db.schema)} CASCADE"
    psql = ["psql", "--quiet", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-c", drop]
    if (source / _PLAIN_DUMP).exists():
        _run([*psql, "-f", str(source / _PLAIN_DUMP)], db)
        return
    # pg_restore writes the custom-format dump out as SQL (it connects to nothing), which psql runs in one go.
    script = _tool(["pg_restore", "--no-owner", "--no-privileges", "--file=-", str(source / _DUMP)], dict(os.environ))
    _run([*psql, "-f", "-"], db, script=script)


def _run(command: list[str], db: Database, *, script: str | None = None) -> None:
    """A PostgreSQL client tool against the service's database; the password goes by environment, not argument."""
    parts = urlsplit(db.url)
    env = {**os.environ, "PGPASSWORD": unquote(parts.password or "")}
    netloc = parts.netloc.rpartition("@")[2]
    user = f"{parts.username}@" if parts.username else ""
    url = urlunsplit((parts.scheme, user + netloc, parts.path, parts.query, ""))
    _tool([*command, f"--dbname={url}"], env, script=script)


def _tool(command: list[str], env: dict[str, str], *, script: str | None = None) -> str:
    """Run a PostgreSQL client tool (``script`` on its standard input); what it printed."""
    try:
        done = subprocess.run(command, env=env, input=script, check=True, capture_output=True, text=True)  # noqa: S603
    except FileNotFoundError:
        raise BackupError(f"{command[0]} is not installed: install the PostgreSQL client tools") from None
    except subprocess.CalledProcessError as e:
        raise BackupError(f"{command[0]} failed: {e.stderr.strip()}") from None
    return done.stdout


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sqlite_files(db: Database) -> list[Path]:
    """The event store file and its sibling databases, without the key store and rebuilds in progress."""
    assert db.sqlite_path is not None
    stem = db.sqlite_path.stem
    found = [db.sqlite_path] if db.sqlite_path.exists() else []
    for path in sorted(db.sqlite_path.parent.glob(f"{stem}.*.db")):
        if path.name not in (f"{stem}.keys.db",) and not path.name.endswith(".rebuild.db"):
            found.append(path)
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
