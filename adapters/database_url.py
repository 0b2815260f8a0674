"""``ADDVALUE_DATABASE_URL`` read into a ``Database``: which engine, and where its files or schema are.

Kept apart from the event store's configuration (adapters.eventstore.persistence)
because every store needs it, the archive included, and the event store's
recorders need the archive.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import msgspec

__all__ = ["Database", "parse_database_url"]


class Database(msgspec.Struct, frozen=True, kw_only=True):
    """The database the service uses: a SQLite file (and its siblings) or a PostgreSQL schema."""

    kind: Literal["sqlite", "postgresql"]
    url: str
    sqlite_path: Path | None = None
    schema: str = "public"

    def sibling(self, suffix: str) -> Path:
        """A SQLite file beside the event store: ``addvalue.<suffix>.db``."""
        assert self.sqlite_path is not None
        return self.sqlite_path.with_name(f"{self.sqlite_path.stem}.{suffix}.db")


def parse_database_url(url: str, *, schema: str = "public") -> Database:
    """Raise ValueError with the fix in the message when the URL is not usable."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # sqlite:///relative/file.db or sqlite:////absolute/file.db, as SQLAlchemy spells it.
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if not path or parts.netloc:
            raise ValueError(f"{url!r}: write sqlite:///path/to/file.db (three slashes for a relative path)")
        return Database(kind="sqlite", url=url, sqlite_path=Path(path))
    if parts.scheme in ("postgresql", "postgres"):
        if not parts.hostname or not parts.path.strip("/"):
            raise ValueError(f"{url!r}: write postgresql://user[:password]@host[:port]/database")
        return Database(kind="postgresql", url=url, schema=schema)
    raise ValueError(f"{url!r}: the scheme must be sqlite:// or postgresql://")
