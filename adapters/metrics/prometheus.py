"""The pipeline's measurements as Prometheus families, with the official ``prometheus_client``.

One process (tests, ``serve`` alone) keeps its values in memory. ``serve --workers N`` and a
separate ``addvalue worker`` write them to files in one shared folder (the library's multiprocess
mode, :func:`use_shared_folder`), and whichever process answers ``GET /metrics`` merges every
process's files. docs/operations.md lists each family and its definition.
"""

from __future__ import annotations

import bisect
import functools
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, ParamSpec

import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

from adapters.database_url import Database
from adapters.metrics.pools import PoolWatch
from application.observability.ports import IngestOutcomeCounts, PipelineMetrics

__all__ = ["CONTENT_TYPE_LATEST", "PrometheusMetrics", "default_metrics_dir", "sweep_dead", "use_shared_folder"]

log = structlog.get_logger(__name__)
P = ParamSpec("P")

_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
# The library names each process's file <kind>[_<gauge mode>]_<pid>.db.
_FILE: Final = re.compile(r"^(?P<kind>[a-z_]+?)_(?P<pid>\d+)\.db$")
# Event time to commit: from sub-second (a live app) to the catalog's 30 days (an offline queue).
_LAG_BUCKETS: Final = (0.1, 0.5, 1, 5, 30, 60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400)
_SECONDS_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_JOB_BUCKETS: Final = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600)
_POOLS_HELP: Final = "Database pool connections by state (idle, in_use, waiting, max), summed over live processes"
# "failed": the events of a request whose write failed (answered 5xx).
OUTCOMES: Final = ("accepted", "duplicate", "rejected", "not_collected", "failed")


def default_metrics_dir(db: Database) -> Path:
    """``metrics/`` beside the SQLite files; ``var/metrics/<schema>`` on PostgreSQL (one folder per store)."""
    if db.sqlite_path is not None:
        return db.sqlite_path.parent / "metrics"
    return Path("var") / "metrics" / db.schema


def use_shared_folder(folder: Path, *, wipe: bool) -> None:
    """Turn on multiprocess mode in this process and the processes it starts after this call.

    The environment variable reaches the workers uvicorn spawns (they import the library afresh);
    this process imported it already, and the library picks its value class at import, so it is
    set here too. ``wipe`` (``serve`` at start) removes the files of every process that is gone:
    values of an earlier run would otherwise be added to this one's. A running ``worker``'s files
    stay, so starting ``serve`` after it does not drop its counts.
    """
    folder = folder.resolve()  # the same folder whatever directory a process later works in
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.environ[_ENV] = str(folder)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    if wipe:
        for path, pid in _files(folder):
            if not _alive(pid):
                path.unlink(missing_ok=True)


def sweep_dead(folder: Path) -> int:
    """Drop the live-gauge files of processes that are gone (``mark_process_dead``); how many processes.

    Called before each scrape: a worker uvicorn replaced, or an ``addvalue worker`` that stopped,
    no longer adds its queue depth or projection lag. Its counter and histogram files stay, so
    totals never go down (Prometheus reads a fall as a restart); the next ``serve`` start wipes them.
    """
    dead = {pid for path, pid in _files(folder) if path.name.startswith("gauge_live") and not _alive(pid)}
    for pid in dead:
        multiprocess.mark_process_dead(pid, str(folder))  # type: ignore[no-untyped-call]
    return len(dead)


def _files(folder: Path) -> list[tuple[Path, int]]:
    found = []
    for path in folder.glob("*.db"):
        match = _FILE.match(path.name)
        if match:
            found.append((path, int(match["pid"])))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _never_raises(method: Callable[P, None]) -> Callable[P, None]:
    """A measurement that fails (its folder removed, the disk full) is logged; the work it measured goes on."""

    @functools.wraps(method)
    def measured(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            method(*args, **kwargs)
        except Exception as e:
            log.warning("metrics.failed", measurement=method.__name__, error=str(e))

    return measured


class PrometheusMetrics(PipelineMetrics):
    """Every family of docs/operations.md; ``exposition()`` is what ``GET /metrics`` answers."""

    def __init__(self) -> None:
        self._shared = os.environ.get(_ENV)
        if self._shared:  # inherited from a parent that may not have made it (the library would fail on write)
            Path(self._shared).mkdir(parents=True, exist_ok=True, mode=0o700)
        # In memory, each instance has its own registry (several containers in one test process).
        # In multiprocess mode the values go to files whatever the registry; a scrape reads the files.
        self._registry = CollectorRegistry(auto_describe=True)
        r = None if self._shared else self._registry
        self.events = Counter("addvalue_ingest_events", "Ingested events by outcome", ["outcome"], registry=r)
        self.missing = Counter(
            "addvalue_ingest_missing_field_events",
            "Events rejected for a required field absent or null, by catalog event and first such field",
            ["event", "field"],
            registry=r,
        )
        self.ingest_seconds = Histogram(
            "addvalue_ingest_request_duration_seconds",
            "Ingest requests, from routing to the answer",
            ["route"],
            buckets=_SECONDS_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "addvalue_ingest_queue_depth",
            "Valid events waiting for the group commit",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.event_lag = Histogram(
            "addvalue_event_lag_seconds", "Corrected event time to commit", buckets=_LAG_BUCKETS, registry=r
        )
        self.commit_seconds = Histogram(
            "addvalue_db_transaction_seconds",
            "Database transactions by kind (group_commit: one ingest group's save)",
            ["kind"],
            buckets=_SECONDS_BUCKETS,
            registry=r,
        )
        self._init_pipeline(r)
        self._init_database(r)
        self._init_outputs(r)
        for outcome in OUTCOMES:
            self.events.labels(outcome)  # each outcome answers 0 before its first event
        self._group = self.commit_seconds.labels("group_commit")
        self.pools = PoolWatch(self._pool_figure)
        if self._shared:
            self.pools.sample_every_second()

    def _init_pipeline(self, r: CollectorRegistry | None) -> None:
        self.projection_events = Gauge(
            "addvalue_projection_lag_events",
            "Events of the log the projection has not applied",
            ["projection"],
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        self.projection_seconds = Gauge(
            "addvalue_projection_lag_seconds",
            "Seconds since the projection last had nothing to apply",
            ["projection"],
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        job = ["job"]
        self.job_success = Gauge(
            "addvalue_job_last_success_timestamp_seconds",
            "End of the job's last successful run (Unix time)",
            job,
            multiprocess_mode="max",
            registry=r,
        )
        self.job_failed = Gauge(
            "addvalue_job_last_run_failed",
            "1 if the job's last run failed",
            job,
            multiprocess_mode="mostrecent",
            registry=r,
        )
        self.job_owed = Gauge(
            "addvalue_job_periods_owed",
            "Periods whose run failed and has not succeeded since",
            job,
            multiprocess_mode="mostrecent",
            registry=r,
        )
        self.job_seconds = Histogram(
            "addvalue_job_duration_seconds", "Batch job run time", job, buckets=_JOB_BUCKETS, registry=r
        )

    def _init_database(self, r: CollectorRegistry | None) -> None:
        name, labels = "addvalue_db_pool_connections", ("pool", "state")
        self.pool_connections = Gauge(name, _POOLS_HELP, labels, multiprocess_mode="livesum", registry=r)

    @_never_raises
    def _pool_figure(self, pool: str, state: str, n: int) -> None:
        self.pool_connections.labels(pool, state).set(n)

    def watch_pool(self, name: str, pool: object) -> None:
        """Report ``pool`` (psycopg_pool's or eventsourcing's) as ``pool=name`` until ``unwatch_pool``."""
        self.pools.watch(name, pool)

    def unwatch_pool(self, name: str) -> None:
        self.pools.unwatch(name)

    def _init_outputs(self, r: CollectorRegistry | None) -> None:
        self.api_seconds = Histogram(
            "addvalue_api_request_duration_seconds",
            "HTTP requests by route template and status",
            ["route", "status"],
            buckets=_SECONDS_BUCKETS,
            registry=r,
        )
        self.quality = Gauge(
            "addvalue_data_quality_score",
            "Latest data quality score, 0-100",
            ["dimension"],
            multiprocess_mode="mostrecent",
            registry=r,
        )
        self.alerts = Gauge(
            "addvalue_alerts_firing",
            "1 while the alert fires",
            ["alert", "severity"],
            multiprocess_mode="mostrecent",
            registry=r,
        )

    @property
    def family_registry(self) -> CollectorRegistry | None:
        """Where another module's families register (None in multiprocess mode: their values go to the files)."""
        return None if self._shared else self._registry

    def exposition(self) -> bytes:
        """The text exposition of every family (all processes' in multiprocess mode), and process metrics."""
        self.pools.sample()  # this process's, as of now
        if not self._shared:
            return generate_latest(self._registry)
        sweep_dead(Path(self._shared))
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self._shared)  # type: ignore[no-untyped-call]
        # The standard collectors describe the answering process only (the library cannot merge them).
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            registry.register(collector)
        return generate_latest(registry)

    @_never_raises
    def ingest_outcomes(self, counts: IngestOutcomeCounts) -> None:
        for outcome, n in counts.by_outcome().items():
            if outcome in OUTCOMES:
                self.events.labels(outcome).inc(n)
        for event, field in counts.missing_fields:
            self.missing.labels(event, field).inc()

    @_never_raises
    def ingest_queue_depth(self, events: int) -> None:
        self.queue_depth.set(events)

    @_never_raises
    def group_committed(self, seconds: float, event_lags: Sequence[float]) -> None:
        self._group.observe(seconds)
        _observe_many(self.event_lag, event_lags)

    @_never_raises
    def request_served(self, route: str, status: int, seconds: float, *, ingest: bool) -> None:
        self.api_seconds.labels(route, str(status)).observe(seconds)
        if ingest:
            self.ingest_seconds.labels(route).observe(seconds)

    @_never_raises
    def projection_lag(self, projection: str, *, events: int, seconds: float) -> None:
        self.projection_events.labels(projection).set(events)
        self.projection_seconds.labels(projection).set(seconds)

    @_never_raises
    def job_ran(self, job: str, *, succeeded: bool, seconds: float, finished_at: float) -> None:
        self.job_seconds.labels(job).observe(seconds)
        self.job_failed.labels(job).set(0 if succeeded else 1)
        if succeeded:
            self.job_success.labels(job).set(finished_at)

    @_never_raises
    def job_periods_owed(self, job: str, periods: int) -> None:
        self.job_owed.labels(job).set(periods)

    @_never_raises
    def quality_score(self, dimension: str, score: float) -> None:
        self.quality.labels(dimension).set(score)

    @_never_raises
    def alert_firing(self, alert: str, severity: str, *, firing: bool) -> None:
        self.alerts.labels(alert, severity).set(1 if firing else 0)


def _observe_many(histogram: Histogram, observed: Sequence[float]) -> None:
    """One increment per bucket for a whole group, instead of one ``observe`` per event.

    A group holds up to 5,000 events; observing each took a lock and a file write per event
    in multiprocess mode. This uses the library's per-bucket values (not its public API, the
    same in every release since 0.4): each bucket counts the observations whose first bound
    fits, as ``Histogram.observe`` counts them.
    """
    if not observed:
        return
    bounds = histogram._upper_bounds
    counts = [0] * len(bounds)
    for value in observed:
        counts[bisect.bisect_left(bounds, value)] += 1
    for bucket, n in zip(histogram._buckets, counts, strict=True):
        if n:
            bucket.inc(n)
    histogram._sum.inc(sum(observed))
