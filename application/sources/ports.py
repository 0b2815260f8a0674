"""Ports of the server-side sources: the app's own database, as a transactional outbox."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Protocol

import msgspec

from domain.errors import FieldError

__all__ = ["AppOutbox", "OutboxMetrics", "OutboxRow", "OutboxStatus", "Verdicts"]


class OutboxRow(msgspec.Struct, frozen=True, kw_only=True):
    """One pending row of an outbox: its id there, and the event as JSON, exactly as emitted."""

    id: int
    payload: bytes


class Verdicts(msgspec.Struct, frozen=True, kw_only=True):
    """What became of a batch of rows: delivered (stored, duplicate or not collected), or rejected with reasons."""

    delivered: list[int]
    rejected: dict[int, list[FieldError]]


class OutboxStatus(msgspec.Struct, frozen=True, kw_only=True):
    """An outbox's rows by state, and how old its oldest pending row is (None: nothing pending)."""

    outbox: str
    pending: int
    delivered: int
    rejected: int
    oldest_pending_seconds: float | None


class AppOutbox(Protocol):
    """The outbox table in the app's database (``addvalue_outbox.events``), as the relay sees it."""

    @property
    def name(self) -> str:
        """How the outbox is named in status, metrics and quarantine (``host:port/dbname``, never a password)."""
        ...

    def deliver(self, limit: int, judge: Callable[[Sequence[OutboxRow]], Verdicts]) -> int:
        """Take up to ``limit`` pending rows no one else holds, let ``judge`` ingest them, mark them; one transaction.

        The rows stay locked in the app's database while ``judge`` runs, and are marked in the
        same transaction that locked them: if anything fails before its commit (the process is
        killed, say), they are pending again and will be judged again. Returns how many were taken.
        """
        ...

    def purge(self, older_than: timedelta) -> int:
        """Delete the rows delivered more than ``older_than`` ago; how many."""
        ...

    def status(self) -> OutboxStatus:
        """The rows by state and the age of the oldest pending one, by the app database's clock."""
        ...

    def wait(self, timeout: float) -> bool:
        """Until a row is emitted (a notification) or ``timeout`` seconds pass; True when woken."""
        ...

    def close(self) -> None:
        """Close the connections; the next call opens them again."""
        ...


class OutboxMetrics(Protocol):
    """The outboxes' figures in the service's measurements."""

    def outbox_status(self, status: OutboxStatus) -> None:
        """The latest status of one outbox."""
        ...
