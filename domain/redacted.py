"""What an event becomes once its subject's key is gone: a placeholder with no content."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.errors import SubjectErased

__all__ = ["RedactedEvent"]


class RedactedEvent(Aggregate.Event):
    """Position and type of an event whose content can no longer be decrypted.

    Readers that list history show it as redacted; projections skip it and
    advance; replaying it into an aggregate raises :class:`SubjectErased`.
    """

    original_topic: str
    subject_id: UUID
    timestamp: datetime

    def mutate(self, aggregate: Any) -> Any:  # noqa: ARG002 - the library's signature
        raise SubjectErased(
            f"stream {self.originator_id} belongs to an erased subject: "
            "its data key was destroyed, so its events can never be read again"
        )
