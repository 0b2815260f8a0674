"""Ports of retention: the hot store as the archiver sees it, the purge of old metrics, and the backups."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

import msgspec
from eventsourcing.persistence import Notification

__all__ = ["Backups", "ColdStore", "MetricsRetention", "MovedToArchive"]


class MovedToArchive(msgspec.Struct, frozen=True, kw_only=True):
    """One archive file written, and how many of its rows were then deleted from the hot store."""

    file: str
    bytes: int
    deleted: int


class ColdStore(Protocol):
    """The hot store as the archiver sees it (implemented by our recorders with an archive attached)."""

    def select_hot(
        self, start: int, limit: int, *, stop: int | None = None, topics: Sequence[str] = ()
    ) -> Sequence[Notification]:
        """Hot rows only, in log order; the archive is not read."""

    def hot_max_id(self) -> int:
        """The largest notification id in the hot store (0 when empty)."""

    def stream_versions(self, stream_ids: Sequence[UUID]) -> dict[UUID, int]:
        """The last hot version of each stream that has hot rows."""

    def move_to_archive(self, rows: Sequence[Notification]) -> MovedToArchive:
        """Write the rows to a new archive file (synced), then delete them from the hot store in one transaction."""

    def exclusive(self) -> AbstractContextManager[None]:
        """Held for a whole run; raises :class:`ArchiveBusy` when another run holds it."""


class MetricsRetention(Protocol):
    """Aggregated read-model rows by day (counts per day and hour, per-person days, indices)."""

    def purge_before(self, day: date) -> int:
        """Delete the rows of days before ``day``; return how many."""


class Backups(Protocol):
    """Where the daily backups go (adapters.retention.backup.BackupFolder): without the keys, ever."""

    def write(self, at: datetime) -> str:
        """Write a whole backup, made at ``at``; where it is. Raises if it could not be written whole."""

    def delete_before(self, cutoff: datetime) -> list[str]:
        """Delete the backups made before ``cutoff``; which ones."""
