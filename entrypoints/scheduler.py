"""Scheduled jobs of the running service: keep projections current, rebuild them periodically.

One background thread per process. Catch-up runs every few seconds; a full
rebuild (clear and replay) runs on its own, longer interval, so a view that
drifted through a bug fix or an erasure is rebuilt from the history anyway.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import msgspec
import structlog

from application.projections import PagedProjection

__all__ = ["ProjectionScheduler"]

log = structlog.get_logger(__name__)


class ProjectionScheduler:
    """Runs every projection: catch-up every few seconds, a full rebuild on a longer schedule."""

    def __init__(self, projections: Sequence[PagedProjection], *, catch_up_every: float, rebuild_every: float) -> None:
        self._projections = list(projections)
        self._catch_up_every = catch_up_every
        self._rebuild_every = rebuild_every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="projections", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        next_rebuild = time.monotonic() + self._rebuild_every
        while not self._stop.is_set():
            rebuilding = time.monotonic() >= next_rebuild
            for projection in self._projections:
                self._run_one(projection, rebuild=rebuilding)
            if rebuilding:
                next_rebuild = time.monotonic() + self._rebuild_every
            self._stop.wait(self._catch_up_every)

    @staticmethod
    def _run_one(projection: PagedProjection, *, rebuild: bool) -> None:
        try:
            if rebuild:
                result = projection.rebuild()
                log.info("projection.rebuilt", view=projection.name, **msgspec.structs.asdict(result))
            else:
                result = projection.catch_up()
                if result.processed:
                    log.debug("projection.caught_up", view=projection.name, processed=result.processed)
        except Exception:  # a failed run is logged and retried, never fatal to the service
            log.exception("projection.failed", view=projection.name)
