"""The cold archive: stored-event rows exactly as stored, in Parquet files, read as part of the log.

Each file ``<first id>-<last id>.parquet`` holds rows sorted by notification
id: ``id``, ``originator_id`` (16 bytes), ``originator_version``, ``topic``
and ``state``. ``state`` is the mapper's output, encrypted under its person's
key, so erasing the key makes an archived event unreadable exactly like a hot
one. Files are written to a temporary name, synced, renamed and the folder
synced, before the recorder deletes their rows from the hot store; after a
crash in between, a row is in both places, and readers drop the second copy
by notification id.

Reading goes by row group (10,000 rows, each with the min and max id in the
footer): only the groups a request overlaps are read, and the last few are
kept decoded in memory, so a replay reads each group once.
"""

from __future__ import annotations

import bisect
import fcntl
import heapq
import json
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final, NamedTuple
from uuid import UUID

# pyarrow ships no type information; it is used only in this module.
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from eventsourcing.persistence import Notification, StoredEvent

from adapters.database_url import Database
from application.retention.archive import ArchiveBusy
from application.retention.ports import MetricsRetention

__all__ = [
    "ParquetArchive",
    "ReadModelRetention",
    "default_archive_dir",
    "merge_events",
    "merge_notifications",
    "needs_archive",
    "read_merged",
]

_SCHEMA: Final = pa.schema(
    [
        ("id", pa.int64()),
        ("originator_id", pa.binary(16)),
        ("originator_version", pa.int64()),
        ("topic", pa.string()),
        ("state", pa.binary()),
    ]
)
# Ciphertext and random stream ids do not compress; ids and topics do.
_COMPRESSION: Final = {"id": "zstd", "originator_id": "none", "originator_version": "zstd", "topic": "zstd"}
_ROW_GROUP: Final = 10_000
_NAME: Final = re.compile(r"(\d+)-(\d+)\.parquet")
_SETTLED_NS: Final = 2_000_000_000  # coarser than any file system's timestamp granularity
_CACHED_GROUPS: Final = 8


def default_archive_dir(db: Database) -> Path:
    """``archive/`` beside the SQLite files; ``var/archive/<schema>`` on PostgreSQL (one folder per store)."""
    if db.sqlite_path is not None:
        return db.sqlite_path.parent / "archive"
    return Path("var") / "archive" / db.schema


class _Group(NamedTuple):
    min_id: int
    max_id: int


class _File(NamedTuple):
    path: Path
    first_id: int
    last_id: int
    topics: frozenset[str]
    groups: tuple[_Group, ...]


class _Rows(NamedTuple):
    ids: list[int]
    originator_ids: list[bytes]
    versions: list[int]
    topics: list[str]
    states: list[bytes]

    def notification(self, i: int) -> Notification:
        return Notification(
            id=self.ids[i],
            originator_id=UUID(bytes=self.originator_ids[i]),
            originator_version=self.versions[i],
            topic=self.topics[i],
            state=self.states[i],
        )


class ParquetArchive:
    """One folder of archive files; safe to share between threads."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._files: tuple[_File, ...] = ()
        self._listed: tuple[int, int] = (0, 0)  # (folder mtime, when listed), both ns
        self._groups: OrderedDict[tuple[Path, int], _Rows] = OrderedDict()

    def files(self) -> tuple[_File, ...]:
        """The current files, sorted by first id; listed again only when the folder changed."""
        try:
            mtime = self.folder.stat().st_mtime_ns
        except FileNotFoundError:
            return ()
        with self._lock:
            listed_mtime, listed_at = self._listed
            # A change within the same timestamp tick leaves mtime alone: trust a listing only once settled.
            if mtime != listed_mtime or listed_at - listed_mtime < _SETTLED_NS:
                known = {f.path: f for f in self._files}
                self._listed = (mtime, time.time_ns())
                paths = sorted(p for p in self.folder.iterdir() if _NAME.fullmatch(p.name))
                self._files = tuple(sorted((known.get(p) or _describe(p) for p in paths), key=lambda f: f.first_id))
            return self._files

    def max_id(self) -> int:
        return max((f.last_id for f in self.files()), default=0)

    def size(self) -> int:
        return sum(f.path.stat().st_size for f in self.files())

    def write(self, rows: Sequence[Notification]) -> tuple[Path, int]:
        """A new file of these rows (sorted by id), durable before this returns: its path and size."""
        self.folder.mkdir(parents=True, exist_ok=True)
        topics = sorted({r.topic for r in rows})
        table = pa.table(
            {
                "id": [r.id for r in rows],
                "originator_id": [_uuid(r.originator_id).bytes for r in rows],
                "originator_version": [r.originator_version for r in rows],
                "topic": [r.topic for r in rows],
                "state": [bytes(r.state) for r in rows],
            },
            schema=_SCHEMA.with_metadata({"addvalue.archive": "1", "topics": json.dumps(topics)}),
        )
        final = self.folder / f"{rows[0].id}-{rows[-1].id}.parquet"
        temporary = final.with_suffix(".tmp")
        with temporary.open("wb") as f:
            pq.write_table(
                table,
                f,
                row_group_size=_ROW_GROUP,
                compression={**_COMPRESSION, "state": "none"},
                use_dictionary=["topic"],
                write_statistics=["id"],
            )
            f.flush()
            os.fsync(f.fileno())
        # Same name again only if the earlier run crashed before its delete: its rows are all still hot.
        temporary.replace(final)
        _sync_folder(self.folder)
        return final, final.stat().st_size

    def select(self, start: int, stop: int | None, limit: int, topics: Sequence[str] = ()) -> list[Notification]:
        """Up to ``limit`` rows with ``start <= id <= stop`` (and one of ``topics``), in id order, no duplicates."""
        found: list[Notification] = []
        for file in self.files():
            if (stop is not None and file.first_id > stop) or (len(found) >= limit and file.first_id > found[-1].id):
                break
            if file.last_id < start or (topics and file.topics.isdisjoint(topics)):
                continue
            upper = stop if len(found) < limit else found[-1].id
            found = merge_notifications(found, self._select_in(file, start, upper, limit, topics), limit)
        return found

    def stream(self, originator_id: UUID, first_id: int, last_id: int) -> list[StoredEvent]:
        """The stream's archived rows, found in the files and row groups that its id range overlaps."""
        wanted = originator_id.bytes
        found: dict[int, StoredEvent] = {}
        for file in self.files():
            if file.first_id > last_id or file.last_id < first_id:
                continue
            for index, group in enumerate(file.groups):
                if group.max_id < first_id or group.min_id > last_id:
                    continue
                rows = self._rows(file, index)
                for i, oid in enumerate(rows.originator_ids):
                    if oid == wanted:
                        found[rows.versions[i]] = rows.notification(i)
        return [found[v] for v in sorted(found)]

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """One archive run at a time (a lock file in the folder, released if the process dies)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / ".lock").open("a") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ArchiveBusy(f"another archive run is using {self.folder}; try again when it has ended") from None
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def _select_in(
        self, file: _File, start: int, stop: int | None, limit: int, topics: Sequence[str]
    ) -> list[Notification]:
        found: list[Notification] = []
        for index, group in enumerate(file.groups):
            if group.max_id < start:
                continue
            if (stop is not None and group.min_id > stop) or len(found) >= limit:
                break
            rows = self._rows(file, index)
            i = bisect.bisect_left(rows.ids, start)
            while i < len(rows.ids) and len(found) < limit and (stop is None or rows.ids[i] <= stop):
                if not topics or rows.topics[i] in topics:
                    found.append(rows.notification(i))
                i += 1
        return found

    def _rows(self, file: _File, index: int) -> _Rows:
        key = (file.path, index)
        with self._lock:
            cached = self._groups.get(key)
            if cached is not None:
                self._groups.move_to_end(key)
                return cached
        group = pq.ParquetFile(file.path).read_row_group(index)
        rows = _Rows(*(group.column(name).to_pylist() for name in _SCHEMA.names))
        with self._lock:
            self._groups[key] = rows
            while len(self._groups) > _CACHED_GROUPS:
                self._groups.popitem(last=False)
        return rows


def merge_notifications(
    first: Sequence[Notification], second: Sequence[Notification], limit: int
) -> list[Notification]:
    """Both in id order; the first ``limit`` of their union, each id once."""
    merged: list[Notification] = []
    for row in heapq.merge(first, second, key=lambda n: n.id):
        if merged and merged[-1].id == row.id:
            continue
        merged.append(row)
        if len(merged) == limit:
            break
    return merged


def merge_events(
    hot: Sequence[StoredEvent],
    cold: Sequence[StoredEvent],
    *,
    gt: int | None,
    lte: int | None,
    desc: bool,
    limit: int | None,
) -> list[StoredEvent]:
    """One stream's archived and hot events with the library's ``select_events`` filters applied."""
    by_version = {e.originator_version: e for e in cold}
    by_version.update((e.originator_version, e) for e in hot)
    wanted = [
        by_version[v] for v in sorted(by_version, reverse=desc) if (gt is None or v > gt) and (lte is None or v <= lte)
    ]
    return wanted if limit is None else wanted[:limit]


def needs_archive(hot: Sequence[StoredEvent], *, gt: int | None, desc: bool, limit: int | None) -> bool:
    """Whether a stream read from the hot store alone may be missing archived versions (a prefix of the stream)."""
    if desc and limit is not None and len(hot) == limit:
        return False
    return not hot or min(e.originator_version for e in hot) != (gt or 0) + 1


def read_merged(
    archive: ParquetArchive,
    hot: Callable[[int, int | None], Sequence[Notification]],
    *,
    start: int,
    stop: int | None,
    limit: int,
    topics: Sequence[str],
) -> list[Notification]:
    """Archive and hot store as one log, race-free against a concurrent archive run.

    The archive is read first, to bound the hot query; an archive run renames
    its file before it deletes the rows, so if the file list is unchanged after
    the hot read, no row can have moved out of sight in between.
    """
    while True:
        files = archive.files()
        cold = archive.select(start, stop, limit, topics) if files else []
        bound = cold[-1].id if len(cold) == limit else stop
        rows = hot(limit, bound)
        if archive.files() == files:
            return merge_notifications(rows, cold, limit) if cold else list(rows)


# Aggregated metrics by day or hour, in the read models' databases and the event store's.
_DATED: Final = (
    ("daily_event_counts", "day"),
    ("hourly_event_counts", "hour"),
    ("user_day_counts", "day"),
    ("user_day_moods", "day"),
    ("user_day_indices", "day"),
    ("user_day_index_summaries", "day"),
    ("live_active_days", "day"),
)


class ReadModelRetention(MetricsRetention):
    """Deletes read-model rows of days before a date, in each given database (SQLite file or PostgreSQL schema).

    The tables are found by name, so a read model added later with one of
    these names is covered, and one that is missing is skipped.
    """

    def __init__(self, datastores: Sequence[Any], *, also: Sequence[Callable[[date], int]] = ()) -> None:
        self._datastores = datastores
        self._also = also

    def purge_before(self, day: date) -> int:
        purged = sum(purge(day) for purge in self._also)
        for datastore in self._datastores:
            purged += self._purge(datastore, day)
        return purged

    @staticmethod
    def _purge(datastore: Any, day: date) -> int:
        schema = getattr(datastore, "schema", None)
        purged = 0
        with datastore.transaction(commit=True) as c:
            if schema is None:
                c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                present = {row[0] for row in c.fetchall()}
            else:
                c.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))
                present = {row["table_name"] for row in c.fetchall()}
            for table, column in _DATED:
                if table not in present:
                    continue
                if schema is None:
                    c.execute(f"DELETE FROM {table} WHERE {column} < ?", (day.isoformat(),))
                    purged += c.sqlite_cursor.rowcount
                else:
                    limit = datetime.combine(day, datetime.min.time(), UTC) if column == "hour" else day
                    c.execute(f'DELETE FROM "{schema}".{table} WHERE {column} < %s', (limit,))
                    purged += c.rowcount
        return int(purged)


def _describe(path: Path) -> _File:
    meta = pq.ParquetFile(path).metadata
    groups = []
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(0).statistics
        groups.append(_Group(int(stats.min), int(stats.max)))
    topics = json.loads((meta.metadata or {}).get(b"topics", b"[]"))
    first, last = (int(n) for n in _NAME.fullmatch(path.name).groups())  # type: ignore[union-attr]
    return _File(path=path, first_id=first, last_id=last, topics=frozenset(topics), groups=tuple(groups))


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
