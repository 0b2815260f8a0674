"""Ports of privacy: the erasure register, and where an export finds a person's indices."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

import msgspec

__all__ = ["ErasureEntry", "ErasureRegister", "PersonIndicesSource"]


class ErasureEntry(msgspec.Struct, frozen=True, kw_only=True):
    requested_at: datetime
    due_at: datetime
    completed_at: datetime | None
    subject_id: UUID | None  # until completed: whose key the job destroys


class ErasureRegister(Protocol):
    """Erasures by keyed hash of the app user id (adapters.privacy.erasure_register)."""

    def add(self, app_user_id: UUID, subject_id: UUID, requested_at: datetime, due_at: datetime) -> ErasureEntry:
        """Register an erasure; an existing one is kept as it is and returned."""

    def find(self, app_user_id: UUID) -> ErasureEntry | None: ...

    def blocked(self, app_user_ids: Iterable[UUID]) -> set[UUID]:
        """Those of these users who asked to be erased (pending or done): nothing of theirs is collected."""

    def due(self, now: datetime) -> list[UUID]:
        """Subjects whose grace period is over and whose key still exists."""

    def complete(self, subject_id: UUID, at: datetime) -> None: ...

    def use_roots(self, secrets: Sequence[bytes]) -> int:
        """Key hashes by ``secrets`` (one per root secret, oldest first, as the key store derives them) and step the
        stored ones on to the newest root (``addvalue keys rotate-root``); how many rows were stepped."""


class PersonIndicesSource(Protocol):
    """One person's stored indices of a day (application.reporting.daily_indices.DailyIndices).

    A port, so that an export can include them without privacy depending on
    reporting: reporting uses privacy, never the other way round.
    """

    def of(self, subject_id: UUID, day: date) -> msgspec.Struct | None:
        """The day's indices with the weights used, or None if none were computed."""
