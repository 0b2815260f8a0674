"""The ``Consent`` aggregate: what a person allowed, and the full history of changes."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any, Final, Literal
from uuid import UUID, uuid5

import msgspec
from eventsourcing.domain import Aggregate

from domain.errors import ConsentRuleBroken

__all__ = ["PURPOSES", "Consent", "ConsentChoice", "Purpose"]

Purpose = Literal["analytics", "personalization", "marketing", "location"]
PURPOSES: Final[tuple[Purpose, ...]] = ("analytics", "personalization", "marketing", "location")
# Where a change came from: the app's own event, the consent API, an operator.
# dashboard: the person's own toggle on their /me page.
SOURCES: Final = frozenset({"app_event", "api", "operator", "dashboard"})
_CONSENT_NAMESPACE: Final = UUID("6f1e9a52-3f4b-4d3c-9a51-8d0f6c2b7e11")


@lru_cache(maxsize=65536)
def _consent_stream_id(subject_id: UUID) -> UUID:
    return uuid5(_CONSENT_NAMESPACE, subject_id.hex)


class ConsentChoice(msgspec.Struct, frozen=True, kw_only=True):
    """One answer per purpose; the server's record starts with everything off."""

    analytics: bool = False
    personalization: bool = False
    marketing: bool = False
    location: bool = False

    def allows(self, purpose: Purpose) -> bool:
        return bool(getattr(self, purpose))

    @property
    def grants_anything(self) -> bool:
        """Whether any purpose is allowed: only a full withdrawal (everything off) grants nothing."""
        return any(self.allows(p) for p in PURPOSES)


class Consent(Aggregate):
    """Per person; every change is kept with who made it, when and from where."""

    class Started(Aggregate.Created):
        subject_id: UUID

    class Changed(Aggregate.Event):
        subject_id: UUID
        choice: ConsentChoice
        effective_at: datetime
        source: str
        changed_by: str
        event_id: UUID | None

        def apply(self, aggregate: Any) -> None:
            aggregate.choice = self.choice
            aggregate.history.append(self)

    @classmethod
    def create_id(cls, subject_id: UUID) -> UUID:
        """One consent stream per subject, found again from the subject id alone."""
        return _consent_stream_id(subject_id)

    @classmethod
    def start(cls, subject_id: UUID) -> Consent:
        return cls._create(cls.Started, subject_id=subject_id)

    def __init__(self, subject_id: UUID) -> None:
        self.subject_id = subject_id
        self.choice = ConsentChoice()
        self.history: list[Consent.Changed] = []

    def allows(self, purpose: Purpose) -> bool:
        return self.choice.allows(purpose)

    def change(
        self,
        choice: ConsentChoice,
        *,
        effective_at: datetime,
        source: str,
        changed_by: str,
        event_id: UUID | None = None,
    ) -> None:
        """Record a new choice; an identical choice is still recorded, as proof."""
        _check_source_is_known(source)
        _check_someone_is_named(changed_by)
        self.trigger_event(
            self.Changed,
            subject_id=self.subject_id,
            choice=choice,
            effective_at=effective_at,
            source=source,
            changed_by=changed_by,
            event_id=event_id,
        )


def _check_source_is_known(source: str) -> None:
    if source not in SOURCES:
        raise ConsentRuleBroken(f"consent source must be one of {sorted(SOURCES)}, got {source!r}")


def _check_someone_is_named(changed_by: str) -> None:
    if not changed_by.strip():
        raise ConsentRuleBroken("a consent change must name who made it")
