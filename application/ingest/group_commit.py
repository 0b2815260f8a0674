"""Group commit: the prepared batches of concurrent requests are written in one transaction.

Requests hand their prepared batch to :meth:`GroupCommit.submit` and wait on
the returned future. One writer thread takes whatever has queued (up to
``max_events``, waiting at most ``max_wait`` seconds for more once it has
one), records it all with a single save, and resolves each future with its
own report, or with the error that stopped the transaction. So throughput
does not depend on one fsync per request, and nothing is acknowledged before
it is committed.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future

from eventsourcing.persistence import PersistenceError

from application.batching import settle
from application.errors import StorageError
from application.ingest.ingestion import Ingestion, IngestReport, PreparedBatch
from application.observability.ports import IngestOutcomeCounts, IngestOutcomesSeen, NoMetrics, PipelineMetrics
from application.ports import Clock
from domain.validation import missing_field

__all__ = ["GroupCommit", "outcome_counts"]

_STOP = object()


class GroupCommit:
    def __init__(
        self,
        ingestion: Ingestion,
        *,
        max_events: int = 5000,
        max_wait: float = 0.002,
        metrics: PipelineMetrics | None = None,
        clock: Clock | None = None,
        outcomes: IngestOutcomesSeen | None = None,
    ) -> None:
        """``outcomes``: who is told each request's outcome counts (default: ``metrics``)."""
        self._clock = clock
        self._ingestion = ingestion
        self._metrics = metrics or NoMetrics()
        self._outcomes = outcomes or self._metrics
        self._queued = 0  # valid events submitted and not yet written (the queue-depth gauge)
        self._queued_lock = threading.Lock()
        self._max_events = max_events
        self._max_wait = max_wait
        self._queue: queue.SimpleQueue[tuple[PreparedBatch, Future[IngestReport]] | object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self.groups_written = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Finish what was submitted, then stop."""
        self._queue.put(_STOP)
        self._thread.join(timeout=30)

    def submit(self, batch: PreparedBatch) -> Future[IngestReport]:
        future: Future[IngestReport] = Future()
        if not batch.valid and not batch.quarantine:
            # Nothing to write: answer at once, without a transaction.
            report = IngestReport(accepted=0, duplicates=0, rejected=batch.rejected, not_collected=0)
            self._outcomes.ingest_outcomes(outcome_counts(report, batch))
            future.set_result(report)
            return future
        self._queue_changed(len(batch.valid))
        self._queue.put((batch, future))
        return future

    def _queue_changed(self, events: int) -> None:
        with self._queued_lock:
            self._queued += events
            depth = self._queued
        self._metrics.ingest_queue_depth(depth)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            group = [first]
            size = len(first[0].valid)  # type: ignore[index]
            deadline = time.monotonic() + self._max_wait
            while size < self._max_events:
                try:
                    item = self._queue.get(timeout=max(deadline - time.monotonic(), 0))
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                group.append(item)
                size += len(item[0].valid)  # type: ignore[index]
            self._write(group)  # type: ignore[arg-type]

    def _write(self, group: list[tuple[PreparedBatch, Future[IngestReport]]]) -> None:
        self._queue_changed(-sum(len(batch.valid) for batch, _ in group))
        started = time.monotonic()
        try:
            reports = self._ingestion.record([batch for batch, _ in group])
        except Exception as error:
            if len(group) > 1 and not isinstance(error, PersistenceError | StorageError):
                # One request's events may be what failed: write each alone, so only
                # that request gets the error (nothing of the group was committed).
                # Not when storage failed: that fails them all alike, and retrying one
                # by one would hold every waiting request for each one's timeout.
                for one in group:
                    self._queue_changed(len(one[0].valid))  # counted again by the write of one
                    self._write([one])
                return
            for batch, future in group:  # every request of the group learns the write failed
                self._outcomes.ingest_outcomes(IngestOutcomeCounts(failed=len(batch.valid) + len(batch.rejected)))
                settle(future, error=error)
            return
        self.groups_written += 1
        self._measure(group, seconds=time.monotonic() - started)
        for (batch, future), report in zip(group, reports, strict=True):
            self._outcomes.ingest_outcomes(outcome_counts(report, batch))
            settle(future, report)

    def _measure(self, group: list[tuple[PreparedBatch, Future[IngestReport]]], *, seconds: float) -> None:
        # Lag to the commit, from each event's corrected time: what the read models could know at best.
        lags: list[float] = []
        if self._clock is not None:
            at = self._clock.now()
            lags = [(at - timing.occurred_at).total_seconds() for batch, _ in group for _, timing in batch.valid]
        self._metrics.group_committed(seconds, lags)


def outcome_counts(report: IngestReport, batch: PreparedBatch) -> IngestOutcomeCounts:
    """A request's counts; its missing fields read from the rejected events kept (every one, over HTTP)."""
    missing = (missing_field(kept.raw, kept.errors) for kept in batch.quarantine) if batch.rejected else ()
    return IngestOutcomeCounts(
        accepted=report.accepted,
        duplicate=report.duplicates,
        rejected=len(report.rejected),
        not_collected=report.not_collected,
        missing_fields=tuple(m for m in missing if m is not None),
    )
