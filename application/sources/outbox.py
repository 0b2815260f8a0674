"""Use case: relay the events the app's own database emitted (a transactional outbox) into ingestion.

The app records an event in the same transaction as the change it belongs to
(``addvalue_outbox.emit(event)``, from a trigger or a function): a sign-up
rolled back emits nothing, one committed emits its event once. The relay takes
pending rows in batches and hands them to :class:`Ingestion` exactly as
``POST /v1/events`` does (catalog, consent, quarantine, idempotency by
``event_id``), sent by a service principal named after the outbox. Rows are
then marked delivered, or rejected with the catalog's reasons, in the
transaction that locked them: a crash between ingest and marking leaves them
pending, they are ingested again and the ledger counts them as duplicates.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from application.errors import StorageError
from application.ingest.group_commit import outcome_counts
from application.ingest.ingestion import Ingestion
from application.observability.ports import IngestOutcomesSeen, NoMetrics
from application.principals import Principal
from application.sources.ports import AppOutbox, OutboxRow, Verdicts

__all__ = ["BATCH_ROWS", "OutboxRelay", "outbox_lags"]

log = structlog.get_logger(__name__)

# Rows per transaction: the most a /v1/events request may carry.
BATCH_ROWS = 1000


class OutboxRelay:
    """Moves the pending rows of an outbox into ingestion, a batch per transaction."""

    def __init__(
        self,
        ingestion: Ingestion,
        *,
        outcomes: IngestOutcomesSeen | None = None,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self._ingestion = ingestion
        # Told each batch's outcomes, as the group commit tells them: the /metrics counters, the alert signals.
        self._outcomes = outcomes or NoMetrics()
        self._batch_rows = batch_rows

    def relay(self, outbox: AppOutbox) -> int:
        """Every pending row, batch after batch, until a batch comes back short; how many rows were handled."""
        handled = 0
        while True:
            taken = outbox.deliver(self._batch_rows, lambda rows: self.judge(outbox.name, rows))
            handled += taken
            if taken < self._batch_rows:
                return handled

    def judge(self, outbox: str, rows: Sequence[OutboxRow]) -> Verdicts:
        """Ingest the rows as one request of a service named ``outbox:<name>``; which were rejected, and why."""
        if not rows:
            return Verdicts(delivered=[], rejected={})
        source = f"outbox:{outbox}"
        sender = Principal(subject=source, role="service")
        prepared = self._ingestion.prepare([row.payload for row in rows], sent_at=None, principal=sender, source=source)
        report = self._ingestion.record([prepared])[0]
        self._outcomes.ingest_outcomes(outcome_counts(report, prepared))
        rejected = {rows[r.index].id: r.errors for r in report.rejected}
        return Verdicts(delivered=[row.id for row in rows if row.id not in rejected], rejected=rejected)


def outbox_lags(outboxes: Sequence[AppOutbox]) -> dict[str, float]:
    """Per outbox, the age of its oldest pending row in seconds (0 when none); an unreachable one is left out."""
    lags = {}
    for outbox in outboxes:
        try:
            status = outbox.status()
        except StorageError as e:
            log.warning("outbox.storage_unavailable", outbox=outbox.name, error=str(e))
            continue
        lags[outbox.name] = status.oldest_pending_seconds or 0.0
    return lags
