"""Rebuilds asked for while the service runs, carried out by the process that holds the projection's lease.

Only the lease holder writes a live view. A rebuild done by another process
would swap in its shadow while the holder is catching the same view up: a
page read before the swap and written after it would count events twice, or
skip them. So ``request`` only writes the wish into the shared journal (any
process may: the CLI, any HTTP worker), and the lease holder's scheduler
claims it (``start_pending``) and rebuilds in a thread of its own, beside the
live view, which keeps being caught up and read meanwhile. The swap, and the
catch-ups just before and after it, run under ``writing``, the lock the
scheduler holds for its own catch-ups, so nothing else writes the view then.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final
from uuid import uuid4

import msgspec
import structlog

from application.errors import NotFound
from application.ports import Clock
from application.read_models.ports import RebuildEntry, RebuildJournal
from application.read_models.projections import PagedProjection, catch_up_together
from application.store import AnalyticsStore

__all__ = ["ProjectionState", "Rebuilds"]

log = structlog.get_logger(__name__)

# The journal's progress is written at most this often: a page every few milliseconds would be a write each.
PROGRESS_EVERY_SECONDS: Final = 0.5


class ProjectionState(msgspec.Struct, frozen=True, kw_only=True):
    """One projection as an operator sees it: where it is, how far behind, and a rebuild under way."""

    name: str
    position: int
    lag_events: int
    lag_seconds: float
    rebuild: RebuildEntry | None


class Rebuilds:
    """Ask for rebuilds, follow them, and (in the lease holder) carry them out."""

    def __init__(
        self,
        store: AnalyticsStore,
        projections: Mapping[str, PagedProjection[Any]],
        journal: RebuildJournal,
        clock: Clock,
    ) -> None:
        self._store = store
        self._projections = dict(projections)
        self._journal = journal
        self._clock = clock
        self._owner = uuid4().hex  # this process, as the journal names who runs an entry
        self.writing = threading.RLock()  # held by every writer of the live views in this process
        self._thread: threading.Thread | None = None
        self._busy: frozenset[str] = frozenset()

    def request(self, names: Sequence[str]) -> str:
        """A new job rebuilding ``names``; its id. Raises NotFound for a name that is no projection."""
        unknown = sorted(set(names) - set(self._projections))
        if unknown or not names:
            raise NotFound(
                f"no projection named {', '.join(unknown) or '(none)'}; known: {', '.join(self._projections)}"
            )
        job_id = uuid4().hex
        self._journal.request(job_id, list(dict.fromkeys(names)), self._clock.now())
        return job_id

    def job(self, job_id: str) -> list[RebuildEntry]:
        entries = self._journal.job(job_id)
        if not entries:
            raise NotFound(f"no rebuild job {job_id!r}; jobs are listed under GET /api/admin/projections")
        return entries

    def overview(self) -> list[ProjectionState]:
        """Each projection's position and lag, and the rebuild of it pending or under way (the oldest)."""
        now = self._clock.now()
        under_way: dict[str, RebuildEntry] = {}
        for entry in self._journal.unfinished():
            under_way.setdefault(entry.name, entry)
        states = []
        for name, projection in self._projections.items():
            events, seconds = projection.lag(now)
            states.append(
                ProjectionState(
                    name=name,
                    position=projection.position(),
                    lag_events=events,
                    lag_seconds=round(seconds, 3),
                    rebuild=under_way.get(name),
                )
            )
        return states

    def busy(self) -> frozenset[str]:
        """The projections this process is rebuilding on request now."""
        return self._busy

    def start_pending(self, held: Callable[[str], bool]) -> bool:
        """Claim the oldest asked-for rebuild of projections this process holds; rebuild them in a thread.

        One at a time: while one runs, the next waits. True when one was started.
        """
        if self._thread is not None and self._thread.is_alive():
            return False
        names = [name for name in self._projections if held(name)]
        entries = self._journal.claim(names, self._owner, self._clock.now()) if names else []
        if not entries:
            return False
        job_id, chosen = entries[0].job_id, [e.name for e in entries]
        self._busy = frozenset(chosen)
        self._thread = threading.Thread(
            target=self._carry_out, args=(job_id, chosen), name=f"rebuild-{job_id[:8]}", daemon=True
        )
        self._thread.start()
        return True

    def wait(self, timeout: float) -> None:
        """Until the rebuild under way (if any) ends, at most ``timeout`` seconds."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _carry_out(self, job_id: str, names: list[str]) -> None:
        last = 0.0

        def report(position: int, target: int) -> None:
            nonlocal last
            if time.monotonic() - last >= PROGRESS_EVERY_SECONDS:
                last = time.monotonic()
                self._journal.progress(job_id, names, position, target)

        chosen = [self._projections[name] for name in names]
        try:
            result = catch_up_together(self._store, chosen, rebuild=True, on_progress=report, swap_lock=self.writing)
            self._journal.progress(job_id, names, result.position, result.position)
            self._journal.finish(job_id, names, "swapped", self._clock.now())
            log.info("projection.rebuilt_on_request", job=job_id, views=names, processed=result.processed)
        except Exception as e:  # recorded for whoever asked; the live views are untouched by a failed rebuild
            log.exception("projection.rebuild_failed", job=job_id, views=names)
            try:
                self._journal.finish(job_id, names, "failed", self._clock.now(), error=repr(e)[:500])
            except Exception:
                log.exception("projection.rebuild_unrecorded", job=job_id)
        finally:
            self._busy = frozenset()
