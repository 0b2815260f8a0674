"""Interpreter settings for the long-running processes (serve, its workers, worker, project).

Measured with an in-process harness writing 100-event batches on PostgreSQL: with
the default collector thresholds (700, 10, 10), garbage collection took about
8 µs of every event's ~60 µs of CPU, and each full collection paused every thread
for 100 to 300 ms, which is what a request's p99 latency then shows. A request
allocates tens of thousands of short-lived objects that reference counting frees
anyway; collecting after 100,000 allocations instead of 700 lets the young
generation be scanned ~140 times less often, and freezing what start-up built
(modules, the catalog, the app) keeps the full collections short.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import Final

__all__ = ["BACKGROUND_NICENESS", "COLLECTOR_THRESHOLDS", "as_background_work", "started", "tune_for_serving"]

COLLECTOR_THRESHOLDS: Final = (100_000, 50, 100)
# Added to the niceness of processes that only run projections and jobs (worker, project --follow).
BACKGROUND_NICENESS: Final = 10


def tune_for_serving() -> None:
    """Before start-up: collector thresholds, and a shorter GIL switch interval.

    The event loop and the group-commit writer share the GIL; switching every
    1 ms instead of 5 ms keeps one from holding up the other's requests.
    """
    sys.setswitchinterval(0.001)
    gc.set_threshold(*COLLECTOR_THRESHOLDS)


def started() -> None:
    """After start-up: what exists now lives as long as the process, so no collection scans it again."""
    gc.collect()
    gc.freeze()


def as_background_work() -> None:
    """Yield the CPU to request-serving processes on the same machine.

    Projections and jobs are asynchronous by design (seconds behind is fine);
    a request's latency is not. On two shared cores, a catch-up pass that
    took the CPU for tens of milliseconds showed in the ingest p99.
    """
    os.nice(BACKGROUND_NICENESS)
