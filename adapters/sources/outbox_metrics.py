"""The outboxes' figures as Prometheus families, beside the pipeline's (adapters/metrics/prometheus.py)."""

from __future__ import annotations

from prometheus_client import Gauge

from adapters.metrics.prometheus import PrometheusMetrics
from application.sources.ports import OutboxMetrics, OutboxStatus

__all__ = ["PrometheusOutboxMetrics"]


class PrometheusOutboxMetrics(OutboxMetrics):
    """``addvalue_outbox_rows{outbox,state}`` and ``addvalue_outbox_oldest_pending_seconds{outbox}``.

    Set by the process that follows the outboxes (it holds the jobs' lease), after each round.
    """

    def __init__(self, metrics: PrometheusMetrics) -> None:
        r = metrics.family_registry
        self.rows = Gauge(
            "addvalue_outbox_rows",
            "Rows of the app database's outbox by state (pending, delivered, rejected)",
            ["outbox", "state"],
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        self.oldest = Gauge(
            "addvalue_outbox_oldest_pending_seconds",
            "Age of the outbox's oldest pending row (0 when none is pending)",
            ["outbox"],
            multiprocess_mode="livemostrecent",
            registry=r,
        )

    def outbox_status(self, status: OutboxStatus) -> None:
        for state, n in (("pending", status.pending), ("delivered", status.delivered), ("rejected", status.rejected)):
            self.rows.labels(status.outbox, state).set(n)
        self.oldest.labels(status.outbox).set(status.oldest_pending_seconds or 0.0)
