"""Loaded at start by every process of the ``serve`` that ``bench/ingest.py --no-metrics`` starts.

Turns each measurement of ``PrometheusMetrics`` into ``NoMetrics``'s no-op, so the same service runs
without the instrumentation's cost; ``GET /metrics`` still answers (its families stay at 0).
Only the benchmark puts this folder on ``PYTHONPATH``.
"""

from adapters.metrics import prometheus
from application.observability.ports import NoMetrics

for _name, _method in vars(NoMetrics).items():
    if callable(_method) and not _name.startswith("_"):
        setattr(prometheus.PrometheusMetrics, _name, _method)
