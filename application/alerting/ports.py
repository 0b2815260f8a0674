"""Ports of alerting: where the signals come from, the counts they are computed on, the outbox, silences, senders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

import msgspec

__all__ = [
    "IngestOutcomes",
    "Notification",
    "Outbox",
    "QualityScores",
    "Sender",
    "SignalSource",
    "Silence",
    "Silences",
]


class SignalSource(Protocol):
    """The value of each signal now, over ``window`` where the signal is a rate; None: no data."""

    def read(self, names: Sequence[str], window: timedelta, now: datetime) -> dict[str, float | None]: ...


class IngestOutcomes(Protocol):
    """Submitted events by outcome, counted per second (accepted, duplicate, rejected, rejected_missing,
    not_collected, failed: events of requests answered 5xx), shared by every process of the service."""

    def add(self, second: int, counts: Mapping[str, int]) -> None: ...

    def totals(self, since: int, until: int) -> dict[str, int]:
        """Sums over the seconds ``since`` <= s <= ``until`` (epoch seconds)."""

    def totals_per(self, since: int, until: int, step: int) -> dict[int, dict[str, int]]:
        """``totals`` of each ``step`` seconds from ``since`` to ``until``, in one query: by each one's first
        second; those without a count are absent."""

    def prune(self, before: int) -> None: ...


class QualityScores(Protocol):
    """The latest data quality score (0-100) per dimension; a dimension with no record yet is absent."""

    def latest(self) -> dict[str, float]: ...


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    """One message to one receiver; ``key`` makes enqueueing it twice a no-op."""

    key: str
    receiver: str  # the name in the alert file (data_team)
    kind: str  # webhook, slack, email
    target: str  # URL or address
    body: str  # JSON for webhook and slack, the text of an email
    subject: str = ""
    id: int = 0
    attempts: int = 0
    delivered_at: datetime | None = None
    last_error: str | None = None


class Outbox(Protocol):
    def enqueue(self, notifications: Sequence[Notification], now: datetime) -> int:
        """Add those whose key is new; how many were added."""

    def due(self, now: datetime, limit: int = 100) -> list[Notification]:
        """Undelivered ones whose next attempt is due, oldest first."""

    def delivered(self, notification_id: int, now: datetime) -> None: ...

    def failed(self, notification_id: int, error: str, retry_at: datetime) -> None: ...

    def recent(self, limit: int = 100) -> list[Notification]: ...


class Silence(msgspec.Struct, frozen=True, kw_only=True):
    """Notifications of alerts whose labels match every matcher are not sent between ``starts_at`` and ``ends_at``.

    A matcher is ``{"name": label, "value": v, "regex": bool}``."""

    id: str
    matchers: list[dict[str, str | bool]]
    starts_at: datetime
    ends_at: datetime
    author: str
    comment: str


class Silences(Protocol):
    def add_silence(self, silence: Silence) -> None: ...

    def expire(self, silence_id: str, now: datetime) -> bool:
        """End it now; False when there is no such silence."""

    def all(self) -> list[Silence]: ...


class Sender(Protocol):
    """Delivers one notification to its receiver; raises when it could not (the outbox retries)."""

    def send(self, notification: Notification) -> None: ...
