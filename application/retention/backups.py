"""Use case: the daily backup, then the deletion of backups past their retention (ADDVALUE_BACKUP_RETENTION_DAYS).

The old backups go only once the new one is written whole, so a run that
fails leaves every backup there was. Backups hold the events still encrypted
under each person's key, never the keys: an erasure destroys the key, and the
person's events in every backup, old or new, become unreadable with it.
"""

from __future__ import annotations

from datetime import timedelta

import msgspec

from application.due_now import DueNowJob
from application.ports import Clock
from application.retention.ports import Backups
from domain.periods import Cadence

__all__ = ["BackupJob", "BackupRun", "ScheduledBackups"]


class BackupRun(msgspec.Struct, frozen=True, kw_only=True):
    written: str
    deleted: list[str]


class ScheduledBackups:
    def __init__(self, backups: Backups, clock: Clock, *, keep_for: timedelta) -> None:
        self._backups = backups
        self._clock = clock
        self._keep_for = keep_for

    def run(self) -> BackupRun:
        now = self._clock.now()
        written = self._backups.write(now)
        return BackupRun(written=written, deleted=self._backups.delete_before(now - self._keep_for))


class BackupJob(DueNowJob):
    """Daily, 03:45 UTC (after the archive run, so the backup holds its files): a backup, and old ones deleted."""

    name = "backup"
    schedule = "45 3 * * *"
    cadence: Cadence = "day"
    description = "back up the event store and archive (never the keys) into ADDVALUE_BACKUP_DIR; delete old ones"

    def __init__(self, backups: ScheduledBackups) -> None:
        super().__init__(lambda: 1 + len(backups.run().deleted))
