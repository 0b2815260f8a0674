"""Use case: replay one subject's history for an auditor, decrypted or redacted."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from application.store import AnalyticsStore
from domain.redacted import RedactedEvent

__all__ = ["History", "HistoryEntry"]


class HistoryEntry(msgspec.Struct, frozen=True, kw_only=True):
    position: int
    stream_id: UUID
    version: int
    event_type: str
    recorded_at: datetime | None
    redacted: bool
    data: dict[str, Any]


class History:
    """Walks the whole notification log, selecting by the subject id in each header.

    ``subject_of`` reads a stored event's subject without decrypting it, so
    other people's events are never decrypted by an audit of one person.
    """

    def __init__(self, store: AnalyticsStore, subject_of: Callable[[bytes], UUID]) -> None:
        self._store = store
        self._subject_of = subject_of

    def of_subject(self, subject_id: UUID, *, after: int = 0) -> Iterator[HistoryEntry]:
        """The subject's events in log order, from position ``after`` on."""
        for stored in self._store.iter_log(after + 1):
            if self._subject_of(stored.state) == subject_id:
                yield self._entry(stored.id, self._store.mapper.to_domain_event(stored))

    def page_of_subject(self, subject_id: UUID, *, after: int = 0, limit: int = 100) -> list[HistoryEntry]:
        return list(itertools.islice(self.of_subject(subject_id, after=after), limit))

    def of_stream(self, stream_id: UUID) -> list[HistoryEntry]:
        """One aggregate's events with their versions (position 0: read by stream, not from the log)."""
        stored = self._store.recorder.select_events(stream_id)
        return [self._entry(0, self._store.mapper.to_domain_event(event)) for event in stored]

    @staticmethod
    def _entry(position: int, event: Any) -> HistoryEntry:
        fields = {k: v for k, v in vars(event).items() if k not in ("originator_id", "originator_version", "timestamp")}
        redacted = isinstance(event, RedactedEvent)
        return HistoryEntry(
            position=position,
            stream_id=event.originator_id,
            version=event.originator_version,
            event_type=fields.pop("original_topic").split(":")[-1] if redacted else type(event).__qualname__,
            recorded_at=event.timestamp,
            redacted=redacted,
            data={} if redacted else msgspec.to_builtins(fields),
        )
