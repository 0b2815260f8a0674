"""docs/operations.md lists every family ``GET /metrics`` exports, with its type and labels, and no other."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

from adapters.metrics.prometheus import PrometheusMetrics
from adapters.sources.outbox_metrics import PrometheusOutboxMetrics

DOC = Path(__file__).parents[2] / "docs" / "operations.md"


def _documented() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Each family of the table under "### The families": (type with its gauge mode, label names)."""
    section = DOC.read_text().split("### The families", 1)[1].split("\n### ", 1)[0]
    found = {}
    for row in re.findall(r"^\| `(addvalue_\w+)` \| ([^|]+) \|([^|]*)\|", section, re.M):
        name, kind, labels = row
        names: list[str] = []
        for part in labels.split(";"):  # `label` = `value`, … ; or `label`, `label`
            tokens = re.findall(r"`(\w+)`", part.split(" = ", 1)[0])
            names.extend(tokens if " = " not in part else tokens[:1])
        found[name] = (kind.strip(), tuple(names))
    return found


def _exported() -> dict[str, tuple[str, tuple[str, ...]]]:
    metrics = PrometheusMetrics()
    found = {}
    every = [*vars(metrics).values(), *vars(PrometheusOutboxMetrics(metrics)).values()]  # the outboxes' beside
    for family in every:
        if isinstance(family, MetricWrapperBase):
            kind = family._type
            name = f"{family._name}_total" if kind == "counter" else family._name
            if kind == "gauge":
                kind = f"gauge ({family._multiprocess_mode})"
            found[name] = (kind, tuple(family._labelnames))
    return found


def test_the_operations_doc_lists_every_exported_family_with_its_type_and_labels() -> None:
    documented, exported = _documented(), _exported()
    assert len(exported) >= 18
    assert documented == exported
