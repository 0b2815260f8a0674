"""The alert rules evaluated in the background, every ADDVALUE_ALERT_INTERVAL_SECONDS, by one process.

Started with the jobs (serve, unless ADDVALUE_SERVE_PROJECTIONS=false, or
``addvalue worker``); only the process holding the jobs' lease evaluates and
delivers, so each transition is recorded and each notification sent by one
process. A thread of its own: a long projection rebuild or job does not hold
up an alert about it.
"""

from __future__ import annotations

import threading

import structlog

from application.alerting.evaluation import Alerting
from application.read_models.ports import Leases

__all__ = ["LEASE", "AlertLoop"]

log = structlog.get_logger(__name__)

# The jobs' lease: alerts are evaluated by the process that runs the jobs.
LEASE = "jobs"


class AlertLoop:
    def __init__(self, alerting: Alerting, *, every: float, leases: Leases | None) -> None:
        self._alerting = alerting
        self._every = every
        self._leases = leases
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            if self._leases is not None and not self._leases.hold(LEASE):
                continue
            try:
                self._alerting.tick()
            except Exception:  # the database is down, say: logged, and the next round tries again
                log.warning("alerts.round_failed", exc_info=True)
