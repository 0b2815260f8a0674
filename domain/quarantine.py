"""The ``QuarantinedEvent`` aggregate: a rejected event, kept with its reasons until replayed.

Nothing a client sent is silently dropped: an event that breaks the catalog
is kept here, encrypted like every personal payload (so erasure reaches it),
and can be replayed after a schema fix. One stream per rejected event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from domain.errors import DomainError, FieldError

__all__ = ["AlreadyReplayed", "QuarantinedEvent", "ReplayOutcome"]

ReplayOutcome = Literal["accepted", "duplicate", "not_collected", "rejected"]


class AlreadyReplayed(DomainError):
    """The event left quarantine already; replaying it again would change nothing."""


class QuarantinedEvent(Aggregate):
    class Kept(Aggregate.Created):
        subject_id: UUID
        source: str
        # Who sent it (token subject and role): a replay has no more authority than the original.
        sender: str
        sender_role: str
        received_at: datetime
        sent_at: datetime | None
        reasons: tuple[FieldError, ...]
        # The bytes as received; None when they may not be kept (no consent to collect them).
        raw: bytes | None

    class Replayed(Aggregate.Event):
        subject_id: UUID
        outcome: str
        reasons: tuple[FieldError, ...]

        def apply(self, aggregate: Any) -> None:
            aggregate.replays += 1
            aggregate.reasons = self.reasons or aggregate.reasons
            if self.outcome != "rejected":
                aggregate.released_as = self.outcome

    @classmethod
    def keep(
        cls,
        *,
        subject_id: UUID,
        source: str,
        sender: str,
        sender_role: str,
        received_at: datetime,
        sent_at: datetime | None,
        reasons: list[FieldError],
        raw: bytes | None,
    ) -> QuarantinedEvent:
        return cls._create(
            cls.Kept,
            id=uuid4(),
            subject_id=subject_id,
            source=source,
            sender=sender,
            sender_role=sender_role,
            received_at=received_at,
            sent_at=sent_at,
            reasons=tuple(reasons),
            raw=raw,
        )

    def __init__(
        self,
        *,
        subject_id: UUID,
        source: str,
        sender: str,
        sender_role: str,
        received_at: datetime,
        sent_at: datetime | None,
        reasons: tuple[FieldError, ...],
        raw: bytes | None,
    ) -> None:
        self.subject_id = subject_id
        self.source = source
        self.sender = sender
        self.sender_role = sender_role
        self.received_at = received_at
        self.sent_at = sent_at
        self.reasons = reasons
        self.raw = raw
        self.replays = 0
        self.released_as: str | None = None

    @property
    def replayable(self) -> bool:
        return self.raw is not None and self.released_as is None

    def record_replay(self, outcome: ReplayOutcome, reasons: list[FieldError]) -> None:
        _check_still_quarantined(self)
        self.trigger_event(self.Replayed, subject_id=self.subject_id, outcome=outcome, reasons=tuple(reasons))


def _check_still_quarantined(event: QuarantinedEvent) -> None:
    if event.released_as is not None:
        raise AlreadyReplayed(f"quarantined event {event.id} was already replayed ({event.released_as})")
