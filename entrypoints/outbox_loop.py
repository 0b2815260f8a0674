"""The app databases' outboxes followed in the background, by the process that runs the jobs.

Started with the jobs (``serve`` unless ADDVALUE_SERVE_PROJECTIONS=false, or
``addvalue worker``); only the process holding the jobs' lease relays, so two
processes do not race for the same rows (``FOR UPDATE SKIP LOCKED`` would keep
them apart anyway). One thread per outbox: it relays what is pending, purges
old delivered rows, measures the outbox, then waits for a notification, or at
most ``poll_seconds`` (the fallback when a notification is missed, e.g. while
the connection was down).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Final

import structlog
from eventsourcing.persistence import InterfaceError, OperationalError, PersistenceError

from adapters.metrics.prometheus import PrometheusMetrics
from adapters.sources.outbox_metrics import PrometheusOutboxMetrics
from adapters.sources.outbox_postgres import PostgresOutbox
from application.errors import StorageError
from application.read_models.ports import Leases
from application.sources.outbox import OutboxRelay
from application.sources.ports import AppOutbox, OutboxMetrics
from entrypoints.alert_loop import LEASE
from entrypoints.settings import Settings

__all__ = ["POLL_SECONDS", "OutboxLoop", "outbox_follower"]

log = structlog.get_logger(__name__)

POLL_SECONDS: Final = 5.0
_PURGE_EVERY: Final = 60.0  # seconds between two purges of an outbox
_OUTAGE: Final = (StorageError, PersistenceError, OperationalError, InterfaceError)


class OutboxLoop:
    def __init__(
        self,
        outboxes: Sequence[AppOutbox],
        relay: OutboxRelay,
        *,
        leases: Leases | None,
        metrics: OutboxMetrics,
        retention: timedelta,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self._outboxes = list(outboxes)
        self._relay = relay
        self._leases = leases
        self._metrics = metrics
        self._retention = retention
        self._poll = poll_seconds
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def outboxes(self) -> list[AppOutbox]:
        return list(self._outboxes)

    def start(self) -> None:
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._follow, args=(outbox,), name=f"outbox-{i}", daemon=True)
            for i, outbox in enumerate(self._outboxes)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)
        self.close()

    def close(self) -> None:
        for outbox in self._outboxes:
            outbox.close()

    def _follow(self, outbox: AppOutbox) -> None:
        purged_at = 0.0
        while not self._stop.is_set():
            if self._leases is not None and not self._leases.hold(LEASE):
                self._stop.wait(self._poll)
                continue
            try:
                handled = self._relay.relay(outbox)
                if handled:
                    log.info("outbox.relayed", outbox=outbox.name, rows=handled)
                if time.monotonic() - purged_at > _PURGE_EVERY:
                    outbox.purge(self._retention)
                    purged_at = time.monotonic()
                self._metrics.outbox_status(outbox.status())
            except _OUTAGE as e:  # the app's database or ours: tried again after the poll interval
                log.warning("outbox.storage_unavailable", outbox=outbox.name, error=str(e))
                outbox.close()
                self._stop.wait(self._poll)
                continue
            except Exception:  # never fatal to the thread
                log.exception("outbox.failed", outbox=outbox.name)
                outbox.close()
                self._stop.wait(self._poll)
                continue
            self._pause(outbox)

    def _pause(self, outbox: AppOutbox) -> None:
        """Until a row is emitted, ``poll_seconds`` pass, or stop(); in slices of a second, so stop() is quick."""
        deadline = time.monotonic() + self._poll
        while not self._stop.is_set() and (left := deadline - time.monotonic()) > 0:
            try:
                if outbox.wait(min(left, 1.0)):
                    return
            except _OUTAGE:
                return  # the next round reconnects and says so


def outbox_follower(
    settings: Settings, relay: OutboxRelay, *, leases: Leases | None, metrics: PrometheusMetrics
) -> OutboxLoop:
    """The loop over every outbox of ADDVALUE_OUTBOX_URLS; nothing connects before it starts."""
    return OutboxLoop(
        [PostgresOutbox(url) for url in settings.outbox.urls],
        relay,
        leases=leases,
        metrics=PrometheusOutboxMetrics(metrics),
        retention=timedelta(hours=settings.outbox.retention_hours),
    )
