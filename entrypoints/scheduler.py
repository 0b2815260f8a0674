"""Scheduled jobs of the running service: keep projections current, rebuild them periodically.

One background thread per process. Catch-up runs every few seconds; a full
rebuild (clear and replay) runs on its own, longer interval, so a view that
drifted through a bug fix or an erasure is rebuilt from the history anyway.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgspec
import structlog
from eventsourcing.persistence import InterfaceError, OperationalError

from application.errors import StorageError
from application.observability.ports import NoMetrics, PipelineMetrics
from application.read_models.ports import Leases, Wakeups
from application.read_models.projections import PagedProjection, catch_up_together
from application.read_models.rebuilds import Rebuilds
from application.reporting.jobs import Jobs
from application.store import AnalyticsStore
from entrypoints.alert_loop import AlertLoop
from entrypoints.bootstrap import Container
from entrypoints.outbox_loop import OutboxLoop

__all__ = ["ProjectionScheduler"]

log = structlog.get_logger(__name__)

# The database cannot be reached (down, restarting, or every pooled connection busy for 2 s): an
# outage, not a fault of a projection, logged as a warning without a traceback.
# Between two catch-up passes, at least this long. Under load, commits arrive hundreds of times a
# second; a pass per commit applied a page of a few entries at a time, each page with its own
# transactions per view (45% of a core for projections at 10,000 events/s). Waiting a quarter of a
# second lets a pass apply what many commits added, and the real-time counters stay within a second.
MIN_PASS_GAP_SECONDS: Final = 0.25

DATABASE_DOWN: Final = (OperationalError, InterfaceError, StorageError)

# A failed job run is tried again this much later, this many times (each run is recorded).
RETRY_AFTER: Final = timedelta(minutes=10)
RETRIES: Final = 3
# Owed periods run per job in one pass (a day of hours); the rest in the next passes, seconds later.
MAKE_UP_PER_PASS: Final = 24


class ProjectionScheduler:
    """Runs every projection: catch-up every few seconds, a full rebuild on a longer schedule."""

    def __init__(
        self,
        projections: Sequence[PagedProjection[Any]],
        *,
        catch_up_every: float,
        rebuild_every: float,
        jobs: Jobs | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        wakeups: Wakeups | None = None,
        store: AnalyticsStore | None = None,
        leases: Leases | None = None,
        rebuilds: Rebuilds | None = None,
        metrics: PipelineMetrics | None = None,
        alerts: AlertLoop | None = None,
        outbox: OutboxLoop | None = None,
    ) -> None:
        self._alerts = alerts
        self._outbox = outbox  # the app databases' outboxes, followed with the jobs (entrypoints/outbox_loop.py)
        self._leases = leases
        self._metrics = metrics or NoMetrics()
        self._caught_up_at: dict[str, float] = {}  # per projection, when it last had nothing left (monotonic)
        self._rebuilds = rebuilds
        # Held while this thread writes the live views, so that a rebuild asked for meanwhile swaps between rounds.
        self._writing: AbstractContextManager[Any] = rebuilds.writing if rebuilds is not None else nullcontext()
        self._waiting: set[str] = set()  # held by another process, already logged
        self._wakeups = wakeups
        self._store = store
        self._projections = list(projections)
        self._jobs = jobs
        self._clock = clock
        # A job that never ran owes what its schedule reaches from now on; one that ran owes what it missed.
        self._started = clock()
        # Failed runs to try again: (job, period) -> (when, attempt number).
        self._retries: dict[tuple[str, str], tuple[datetime, int]] = {}
        # Periods whose retries all failed: still owed (jobs status lists them), not run again by this process.
        self._gave_up: set[tuple[str, str]] = set()
        self._catch_up_every = catch_up_every
        self._rebuild_every = rebuild_every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="projections", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if self._alerts is not None:
            self._alerts.start()
        if self._outbox is not None:
            self._outbox.start()

    def stop(self) -> None:
        if self._outbox is not None:
            self._outbox.stop()
        if self._alerts is not None:
            self._alerts.stop()
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        next_rebuild = time.monotonic() + self._rebuild_every
        if self._wakeups is not None:
            # Listen before the first pass: a commit between that pass and the first pause must wake the next
            # one, not wait out the interval (LISTEN hears nothing sent before it; data_version needs a baseline).
            self._wakeups.wait(0)
        while not self._stop.is_set():
            # Not while a rebuild asked for is under way here: the two would share the shadow views.
            rebuilding = time.monotonic() >= next_rebuild and not (self._rebuilds and self._rebuilds.busy())
            with self._writing:
                if rebuilding or self._store is None or not self._caught_up_together():
                    for projection in self._leased():
                        self._run_one(projection, rebuild=rebuilding)
                if rebuilding:
                    next_rebuild = time.monotonic() + self._rebuild_every
                self._measure_lag()
                self._run_jobs()
            self._start_asked_rebuild()
            self._pause()

    def _run_jobs(self) -> None:
        try:
            self.run_due_jobs()
        except DATABASE_DOWN as e:  # the owed periods are read from the log: tried again next pass
            log.warning("jobs.storage_unavailable", error=str(e))
        except Exception:  # never fatal to the thread that also keeps the projections current
            log.exception("jobs.failed")

    def _start_asked_rebuild(self) -> None:
        """A rebuild asked for (``addvalue projections rebuild``, the admin API) of projections this process runs."""
        if self._rebuilds is None:
            return
        try:
            mine = {p.name for p in self._projections}  # never the lease of a projection this process does not run
            if self._rebuilds.start_pending(lambda name: name in mine and self._may_run(name)):
                log.info("projection.rebuild_started", views=sorted(self._rebuilds.busy()))
        except DATABASE_DOWN as e:
            log.warning("projection.storage_unavailable", view="rebuilds", error=str(e))

    def _measure_lag(self) -> None:
        """Each projection run here: events of the log it has not applied, and since when it has not been current."""
        if self._store is None:
            return
        try:
            head = self._store.recorder.max_notification_id() or 0
            behind = {p.name: max(head - p.position(), 0) for p in self._leased()}
        except DATABASE_DOWN:
            return  # the pass above logged the outage
        now = time.monotonic()
        for name, events in behind.items():
            if events == 0:
                self._caught_up_at[name] = now
            since = self._caught_up_at.setdefault(name, now)
            self._metrics.projection_lag(name, events=events, seconds=now - since if events else 0.0)

    def _pause(self) -> None:
        """Until events are committed (where the database says so), the interval passes, or stop().

        Never shorter than MIN_PASS_GAP_SECONDS.
        """
        if self._wakeups is None:
            self._stop.wait(self._catch_up_every)
            return
        deadline = time.monotonic() + self._catch_up_every
        self._stop.wait(min(MIN_PASS_GAP_SECONDS, self._catch_up_every))
        # In slices of at most a second, so that stop() is not kept waiting.
        while not self._stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if self._wakeups.wait(min(left, 1.0)):
                return

    def run_due_jobs(self) -> list[str]:
        """Run every period each job owes (missed ones too, oldest first) and the retries due; the names run."""
        if self._jobs is None or not self._may_run("jobs"):
            return []
        now, ran = self._clock(), []
        for job in self._jobs.all():
            owed = self._jobs.owed(job.name, now, since=self._started)
            waiting = [p for p in owed if (job.name, p) not in self._retries and (job.name, p) not in self._gave_up]
            if len(waiting) > 1:
                log.info("job.making_up", job=job.name, owed=len(owed), oldest=owed[0], now_running=len(waiting))
            # At most a day of hours per pass: the projections' catch-up waits for the pass to end.
            for period in waiting[:MAKE_UP_PER_PASS]:
                self._run_job(job.name, period, attempt=1, now=now)
                ran.append(job.name)
        for (name, period), (due, attempt) in sorted(self._retries.items()):
            if due <= now:
                del self._retries[(name, period)]
                self._run_job(name, period, attempt=attempt, now=now)
                ran.append(name)
        self._jobs.measure_owed(self._clock())  # once per pass, after its runs
        return ran

    def _run_job(self, name: str, period: str, *, attempt: int, now: datetime) -> None:
        """Run once; a failure is logged and, up to RETRIES times, tried again RETRY_AFTER later."""
        assert self._jobs is not None
        report = self._jobs.run(name, period)
        log.info("job.ran", attempt=attempt, **msgspec.structs.asdict(report))
        if report.status != "failed":
            return
        if attempt <= RETRIES:
            self._retries[(name, period)] = (now + RETRY_AFTER, attempt + 1)
            log.warning("job.retry_scheduled", job=name, period=period, attempt=attempt + 1, after=str(RETRY_AFTER))
        else:
            self._gave_up.add((name, period))
            log.error("job.gave_up", job=name, period=period, attempts=attempt, hint="addvalue jobs status lists it")

    def _caught_up_together(self) -> bool:
        """One pass for all projections (the log read and decrypted once); False if it failed."""
        assert self._store is not None
        try:
            result = catch_up_together(self._store, self._leased())
        except DATABASE_DOWN as e:  # readiness reports it too; the next pass retries, as after any failure
            log.warning("projection.storage_unavailable", view="all", error=str(e))
            return False
        except Exception:  # each projection is then tried on its own, so one broken view holds up no other
            log.exception("projection.failed", view="all")
            return False
        if result.processed:
            log.debug("projection.caught_up", view="all", processed=result.processed)
        return True

    def _leased(self) -> list[PagedProjection[Any]]:
        return [p for p in self._projections if self._may_run(p.name)]

    def _may_run(self, name: str) -> bool:
        if self._leases is None or self._leases.hold(name):
            if name in self._waiting:
                log.info("lease.taken", name=name)
                self._waiting.discard(name)
            return True
        if name not in self._waiting:
            log.info("lease.held_elsewhere", name=name, hint="another process runs it; this one waits")
            self._waiting.add(name)
        return False

    @staticmethod
    def _run_one(projection: PagedProjection[Any], *, rebuild: bool) -> None:
        try:
            if rebuild:
                result = projection.rebuild()
                log.info("projection.rebuilt", view=projection.name, **msgspec.structs.asdict(result))
            else:
                result = projection.catch_up()
                if result.processed:
                    log.debug("projection.caught_up", view=projection.name, processed=result.processed)
        except DATABASE_DOWN as e:
            log.warning("projection.storage_unavailable", view=projection.name, error=str(e))
        except Exception:  # a failed run is logged and retried, never fatal to the service
            log.exception("projection.failed", view=projection.name)


def scheduler_for(
    container: Container, *, projections: Sequence[str] | None = None, with_jobs: bool = True
) -> ProjectionScheduler:
    """The service's scheduled work: the named projections (default: all) and, unless told not to, the jobs."""
    known, settings = container.projections, container.settings
    chosen = [known[name] for name in (projections or known)]
    return ProjectionScheduler(
        chosen,
        catch_up_every=settings.projection_interval_seconds,
        rebuild_every=settings.rebuild_interval_hours * 3600,
        jobs=container.jobs if with_jobs else None,
        wakeups=container.wakeups,
        store=container.store,
        leases=container.leases,
        rebuilds=container.rebuilds,
        metrics=container.metrics,
        alerts=AlertLoop(container.alerting, every=settings.alert_interval_seconds, leases=container.leases)
        if with_jobs
        else None,
        outbox=container.outbox_loop if with_jobs else None,
    )
