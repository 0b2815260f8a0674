"""Use cases over quarantine: list what was rejected, show one, replay after a fix.

Quarantined events live in the event store (one ``QuarantinedEvent`` stream
each), encrypted like everything personal; an erased person's entries read
as redacted. Replay runs the kept bytes through ingestion again, as of the
moment they were first received (the same time bounds and clock correction),
and records the outcome on the quarantine stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from uuid import UUID

import msgspec
from eventsourcing.utils import get_topic

from application.ingest.ingestion import Ingestion, IngestReport
from application.principals import Principal
from application.store import AnalyticsStore
from domain.errors import DomainError, FieldError, SubjectErased
from domain.quarantine import QuarantinedEvent, ReplayOutcome

__all__ = ["QuarantineBook", "QuarantineEntry", "QuarantineNotFound"]

_KEPT_TOPIC = get_topic(QuarantinedEvent.Kept)
_OLD_WRITE_KEY_PREFIX = "writekey:"


class QuarantineNotFound(DomainError):
    """No quarantined event has this id."""


class QuarantineEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    status: str  # "quarantined", "redacted" (its person was erased), or how it left: "accepted", ...
    received_at: datetime | None
    source: str | None
    reasons: list[FieldError]
    has_payload: bool
    replays: int


class QuarantineBook:
    def __init__(self, store: AnalyticsStore, ingestion: Ingestion) -> None:
        self._store = store
        self._ingestion = ingestion

    def ids(self) -> Iterator[UUID]:
        """Every quarantined event's id, oldest first (read by topic, nothing decrypted)."""
        for notification in self._store.iter_log(topics=[_KEPT_TOPIC]):
            yield UUID(str(notification.originator_id))

    def entries(self, *, only_open: bool = False) -> Iterator[QuarantineEntry]:
        for quarantine_id in self.ids():
            entry = self.entry(quarantine_id)
            if not only_open or entry.status == "quarantined":
                yield entry

    def entry(self, quarantine_id: UUID) -> QuarantineEntry:
        try:
            kept = self._load(quarantine_id)
        except SubjectErased:
            return QuarantineEntry(
                id=quarantine_id,
                status="redacted",
                received_at=None,
                source=None,
                reasons=[],
                has_payload=False,
                replays=0,
            )
        return QuarantineEntry(
            id=quarantine_id,
            status=kept.released_as or "quarantined",
            received_at=kept.received_at,
            source=kept.source,
            reasons=list(kept.reasons),
            has_payload=kept.raw is not None,
            replays=kept.replays,
        )

    def payload(self, quarantine_id: UUID) -> bytes | None:
        return self._load(quarantine_id).raw

    def replay(self, quarantine_id: UUID) -> IngestReport:
        """Run the kept event through ingestion again; record how it went."""
        with self._store.write_lock:
            kept = self._load(quarantine_id)
            if not kept.replayable:
                reason = "it has no payload" if kept.raw is None else f"it was already {kept.released_as}"
                raise QuarantineNotFound(f"quarantined event {quarantine_id} cannot be replayed: {reason}")
            assert kept.raw is not None
            prepared = self._ingestion.prepare(
                [kept.raw],
                sent_at=kept.sent_at,
                principal=_original_sender(kept),
                source=f"replay:{kept.source}",
                received_at=kept.received_at,
                keep_rejected=False,  # still broken: it stays where it is, with fresh reasons
            )
            report = self._ingestion.record([prepared])[0]
            kept.record_replay(_outcome(report), report.rejected[0].errors if report.rejected else [])
            self._store.save(kept)
        return report

    def _load(self, quarantine_id: UUID) -> QuarantinedEvent:
        found = self._store.find(quarantine_id, QuarantinedEvent)
        if found is None:
            raise QuarantineNotFound(f"no quarantined event has id {quarantine_id}")
        return found


def _original_sender(kept: QuarantinedEvent) -> Principal:
    """Who sent the kept event: a replay has no more authority than the original.

    Before issue 13 a write key was kept as sender ``writekey:<source>`` with role
    ``service``; it is read as the write key it was, so a replay cannot grant consent.
    """
    if kept.sender_role == "service" and kept.sender.startswith(_OLD_WRITE_KEY_PREFIX):
        return Principal.write_key(kept.sender.removeprefix(_OLD_WRITE_KEY_PREFIX))
    return Principal(subject=kept.sender, role=kept.sender_role)  # type: ignore[arg-type]


def _outcome(report: IngestReport) -> ReplayOutcome:
    if report.accepted:
        return "accepted"
    if report.duplicates:
        return "duplicate"
    if report.not_collected:
        return "not_collected"
    return "rejected"
