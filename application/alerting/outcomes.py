"""Counting ingest outcomes for the signals: per second, buffered in memory, written once a second.

The group-commit thread tells it each request's outcomes (:meth:`OutcomeTally.ingest_outcomes`, the
``IngestOutcomesSeen`` port that the ``/metrics`` counters read too);
adding to a dict costs nothing on the ingest path, and one upsert per second
and outcome (not per request) reaches the shared table, so every process's
counts are summed there.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Final

import structlog

from application.alerting.ports import IngestOutcomes
from application.observability.ports import IngestOutcomeCounts, IngestOutcomesSeen

__all__ = ["FLUSH_EVERY_SECONDS", "KEEP_SECONDS", "OutcomeTally"]

log = structlog.get_logger(__name__)

FLUSH_EVERY_SECONDS: Final = 1.0
# Kept this long: more than any sensible alert window.
KEEP_SECONDS: Final = 2 * 86400


class OutcomeTally(IngestOutcomesSeen):
    def __init__(self, outcomes: IngestOutcomes, now: Callable[[], float] = time.time) -> None:
        self._outcomes = outcomes
        self._now = now
        self._pending: dict[int, Counter[str]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pruned_at = 0

    def ingest_outcomes(self, counts: IngestOutcomeCounts) -> None:
        self.count(counts.by_outcome())

    def count(self, counts: Mapping[str, int]) -> None:
        second = int(self._now())
        with self._lock:
            self._pending.setdefault(second, Counter()).update({k: v for k, v in counts.items() if v})
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ingest-outcomes", daemon=True)
                self._thread.start()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        try:
            for second, counts in sorted(pending.items()):
                if counts:
                    self._outcomes.add(second, counts)
            now = int(self._now())
            if now - self._pruned_at > 3600:
                self._outcomes.prune(now - KEEP_SECONDS)
                self._pruned_at = now
        except Exception:  # the database is down: keep the counts for the next flush
            log.warning("alerts.outcomes_not_written", exc_info=True)
            with self._lock:
                for second, counts in pending.items():
                    self._pending.setdefault(second, Counter()).update(counts)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_EVERY_SECONDS):
            self.flush()
