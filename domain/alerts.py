"""Alert rules and their states: inactive → pending (for ``for``) → firing → resolved.

An ``Alert`` aggregate per rule name keeps every transition as a
non-personal event (no one's data: a rule name, a value, a time), so the
history is auditable, replayable and survives restarts and erasures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Final, Literal
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.alert_conditions import Condition
from domain.platform import PLATFORM_SUBJECT

__all__ = ["Alert", "AlertRule", "Receiver", "State", "Step", "next_step"]

State = Literal["inactive", "pending", "firing"]
_ALERT_NAMESPACE: Final = UUID("7c1b2a3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")


@dataclass(frozen=True)
class Receiver:
    """Where a notification goes: ``webhook`` (Alertmanager v4 body), ``slack`` or ``email``."""

    kind: Literal["webhook", "slack", "email"]
    target: str


@dataclass(frozen=True)
class AlertRule:
    name: str
    condition_text: str
    condition: Condition
    severity: str
    notification: tuple[str, ...]  # receiver names
    for_: timedelta = timedelta(0)
    window: timedelta = timedelta(minutes=5)
    labels: dict[str, str] = field(default_factory=dict)
    runbook: str = ""

    def all_labels(self) -> dict[str, str]:
        return {"alertname": self.name, "severity": self.severity, **self.labels}


@dataclass(frozen=True)
class Step:
    """What one evaluation does: the state after it, and the event to record (None: nothing changed)."""

    state: State
    event: Literal["pending", "firing", "resolved", "cleared"] | None


def next_step(state: State, holds: bool, *, pending_since: datetime | None, now: datetime, rule: AlertRule) -> Step:
    """The transition for one evaluation of ``rule`` whose condition ``holds`` (or not) at ``now``."""
    if not holds:
        if state == "firing":
            return Step("inactive", "resolved")
        return Step("inactive", "cleared" if state == "pending" else None)
    if state == "firing":
        return Step("firing", None)
    since = pending_since if state == "pending" and pending_since is not None else now
    if now - since >= rule.for_:
        return Step("firing", "firing")
    return Step("pending", "pending" if state == "inactive" else None)


class Alert(Aggregate):
    """One rule's transitions; the state now is the last one's."""

    class Defined(Aggregate.Created):
        is_personal: ClassVar[bool] = False
        subject_id: UUID
        name: str

    class Transitioned(Aggregate.Event):
        is_personal: ClassVar[bool] = False
        subject_id: UUID
        to: str  # pending, firing, resolved, cleared
        at: datetime
        value: dict[str, float | None]  # each signal the condition read, as read

        def apply(self, aggregate: Any) -> None:
            aggregate.apply_transition(self.to, self.at)

    @classmethod
    def create_id(cls, name: str) -> UUID:
        return uuid5(_ALERT_NAMESPACE, name)

    @classmethod
    def define(cls, name: str) -> Alert:
        return cls._create(cls.Defined, id=cls.create_id(name), subject_id=PLATFORM_SUBJECT, name=name)

    def __init__(self, name: str) -> None:
        self.name = name
        self.state: State = "inactive"
        self.since: datetime | None = None  # when the current pending or firing state began
        self.last_resolved: datetime | None = None

    def apply_transition(self, to: str, at: datetime) -> None:
        if to in ("pending", "firing"):
            self.state = "pending" if to == "pending" else "firing"
            self.since = at
        else:
            if to == "resolved":
                self.last_resolved = at
            self.state, self.since = "inactive", None

    def transition(self, to: str, at: datetime, value: dict[str, float | None]) -> None:
        self.trigger_event(self.Transitioned, subject_id=PLATFORM_SUBJECT, to=to, at=at, value=value)
