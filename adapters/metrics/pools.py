"""The database connection pools of this process, read for ``addvalue_db_pool_connections{pool,state}``.

PostgreSQL: every pool is psycopg_pool's (the event store's and each view's, through eventsourcing,
and the small stores' shared one): ``get_stats()`` gives ``idle`` (open, not lent), ``in_use``
(lent), ``waiting`` (callers queued for one) and ``max``. SQLite: the event store's and the views'
datastores use eventsourcing's own pool of SQLite connections, which says how many are ``idle``
and ``in_use`` (and its ``max``), not how many callers wait; the small stores keep one connection
per thread (``adapters.connections.SqliteFile``), which is no pool and is not reported.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Final

import structlog

__all__ = ["SAMPLE_EVERY_SECONDS", "PoolWatch", "pool_connections"]

log = structlog.get_logger(__name__)

# How often a process of multiprocess mode writes its pools' figures to its gauge file.
SAMPLE_EVERY_SECONDS: Final = 1.0


def pool_connections(pool: Any) -> dict[str, int]:
    """The pool's connections by state: psycopg_pool's, or eventsourcing's (SQLite) without ``waiting``."""
    if hasattr(pool, "get_stats"):
        stats = pool.get_stats()
        size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
        return {"idle": idle, "in_use": size - idle, "waiting": stats.get("requests_waiting", 0), "max": pool.max_size}
    return {"idle": pool.num_in_pool, "in_use": pool.num_in_use, "max": pool.pool_size + pool.max_overflow}


def _added_up(pools: list[Any]) -> dict[str, int]:
    total: dict[str, int] = {}
    for pool in pools:
        for state, n in pool_connections(pool).items():
            total[state] = total.get(state, 0) + n
    return total


class PoolWatch:
    """The pools to report, by name; ``sample`` writes each one's figures through ``record``."""

    def __init__(self, record: Callable[[str, str, int], None]) -> None:
        self._record = record
        self._pools: dict[str, Any] = {}
        self._states: dict[str, set[str]] = {}  # the states reported of each pool
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, name: str, pool: Any) -> None:
        """``pool``: a pool, or a function that answers the pools to add up (those open at the time)."""
        with self._lock:
            self._pools[name] = pool

    def unwatch(self, name: str) -> None:
        """A closed pool: its figures drop to 0 (a file's gauge cannot be removed in multiprocess mode)."""
        with self._lock:
            self._pools.pop(name, None)
            states = self._states.pop(name, set())
        for state in sorted(states):
            self._record(name, state, 0)

    def sample(self) -> None:
        with self._lock:
            pools = list(self._pools.items())
        for name, pool in pools:
            try:
                figures = _added_up(pool() if callable(pool) else [pool])
            except Exception as e:  # a pool closing meanwhile: the next sample tells
                log.debug("metrics.pool_unreadable", pool=name, error=str(e))
                continue
            with self._lock:
                self._states.setdefault(name, set()).update(figures)
            for state, n in figures.items():
                self._record(name, state, n)

    def sample_every_second(self) -> None:
        """In multiprocess mode: the process that answers a scrape cannot read another process's pools."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="metrics-pools", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            self.sample()
            time.sleep(SAMPLE_EVERY_SECONDS)
