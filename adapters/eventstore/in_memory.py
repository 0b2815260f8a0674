"""The event store in memory, for unit tests: the library's own fake recorder, with our ingest ledger.

``PERSISTENCE_MODULE=adapters.eventstore.in_memory:PopoIngestFactory`` selects it
(tests/fakes.py). It keeps the ledger's semantics: a second write of an event
id fails with IntegrityError, as the databases' primary keys make it fail.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, IntegrityError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory

from adapters.eventstore.catch_up import ingest_marks
from application.ports import IngestLedger

__all__ = ["PopoIngestFactory", "PopoIngestRecorder"]


class PopoIngestRecorder(POPOApplicationRecorder, IngestLedger):
    """In memory, for unit tests: the library's own fake, with the same ledger semantics."""

    def __init__(self) -> None:
        super().__init__()
        self._event_ids: set[UUID] = set()
        self._not_collected: Counter[tuple[object, str]] = Counter()

    def _insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        marks = ingest_marks(kwargs)
        with self._database_lock:
            if marks is not None and self._event_ids.intersection(marks.event_ids):
                raise IntegrityError("event id already recorded")
            appended: list[StoredEvent] = []
            if marks is not None and marks.appends is not None:
                appended = marks.appends.stored(self.last_versions(marks.appends.stream_ids))
            ids = super()._insert_events([*stored_events, *appended], **kwargs)
            if marks is not None:
                self._event_ids.update(marks.event_ids)
                self._not_collected.update(marks.not_collected)
        return None if ids is None else ids[: len(stored_events)]

    def known_event_ids(self, event_ids: Iterable[UUID]) -> set[UUID]:
        return self._event_ids.intersection(event_ids)

    def last_versions(self, stream_ids: Sequence[UUID]) -> list[int]:
        index = self._stored_events_index
        return [max(index.get(str(stream_id)) or [0]) for stream_id in stream_ids]

    def events_after(self, versions: Mapping[UUID, int]) -> list[StoredEvent]:
        return [e for stream, after in versions.items() for e in self.select_events(stream, gt=after)]

    def writing(self, *, alone: bool) -> AbstractContextManager[None]:  # noqa: ARG002 (the port's signature)
        return nullcontext()  # one process: AnalyticsStore.write_lock is enough, alone or not

    def not_collected_total(self) -> int:
        return sum(self._not_collected.values())


class PopoIngestFactory(POPOFactory):
    """``PERSISTENCE_MODULE=adapters.eventstore.in_memory:PopoIngestFactory`` selects it."""

    def application_recorder(self) -> ApplicationRecorder:
        return PopoIngestRecorder()
