"""The alert rules as a Prometheus rules file, over the families ``GET /metrics`` exports.

For a team that runs Prometheus and Alertmanager: the same conditions, in
PromQL, with the same definitions as the service's signals (``error_rate``:
rejected and failed events; ``null_rate``: the missing-field family). A ratio
over ``window`` becomes ``increase`` of the outcome counters over that range;
a duration or a score, the gauge; a boolean, the gauge ``== 1``. Alert names
become identifiers (``High Event Error Rate`` → ``HighEventErrorRate``); the
rule's own name is kept in the ``summary``.
"""

from __future__ import annotations

import re
from typing import Any, Final

from application.alerting.rules import AlertConfig
from domain.alert_conditions import Comparison, Condition
from domain.alerts import AlertRule

__all__ = ["DAILY_JOBS", "alert_identifier", "prometheus_rules", "promql"]

# The jobs of cadence "day" (application/reporting/jobs.py); daily_job_failed looks at these.
DAILY_JOBS: Final = ("close-day", "daily-indices", "archive")
_EVENTS: Final = "addvalue_ingest_events_total"


def alert_identifier(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part) or "Alert"


def _range(seconds: float) -> str:
    return f"{int(seconds)}s" if seconds % 60 else f"{int(seconds // 60)}m"


def _signal(name: str, window: str) -> str:
    def increase(selector: str) -> str:
        return f"sum(increase({selector}[{window}]))"

    total = increase(_EVENTS)
    bad = increase(f'{_EVENTS}{{outcome=~"rejected|failed"}}')  # failed: events of requests answered 5xx
    ratios = {
        "error_rate": bad,
        "duplicate_rate": increase(f'{_EVENTS}{{outcome="duplicate"}}'),
        "null_rate": increase("addvalue_ingest_missing_field_events_total"),
    }
    if name in ratios:
        return f"({ratios[name]} / {total})"
    daily = "|".join(DAILY_JOBS)
    plain = {
        "rejected_events": bad,
        "submitted_events": total,
        "processing_lag": "max(addvalue_projection_lag_seconds or addvalue_outbox_oldest_pending_seconds)",
        "processing_lag_events": "max(addvalue_projection_lag_events)",
        "daily_job_failed": f'max(addvalue_job_last_run_failed{{job=~"{daily}"}})',
        "job_failed": "max(addvalue_job_last_run_failed)",
        "quality_score": "min(addvalue_data_quality_score)",
    }
    if name in plain:
        return plain[name]
    dimension = name.removeprefix("quality_")
    return f'min(addvalue_data_quality_score{{dimension="{dimension}"}})'


def promql(condition: Condition, window_seconds: float) -> str:
    window = _range(window_seconds)
    if isinstance(condition, Comparison):
        op = "==" if condition.op == "=" else condition.op
        return f"{_signal(condition.signal, window)} {op} {condition.threshold:g}"
    joiner = f" {condition.op.lower()} "
    return joiner.join(f"({promql(part, window_seconds)})" for part in condition.parts)


def _rule(rule: AlertRule) -> dict[str, Any]:
    found: dict[str, Any] = {
        "alert": alert_identifier(rule.name),
        "expr": promql(rule.condition, rule.window.total_seconds()),
    }
    if rule.for_.total_seconds():
        found["for"] = _range(rule.for_.total_seconds())
    found["labels"] = {"severity": rule.severity, **rule.labels}
    notes = {"summary": f"{rule.name}: {rule.condition_text}"}
    if rule.runbook:
        notes["runbook_url"] = rule.runbook
    found["annotations"] = notes
    return found


def prometheus_rules(config: AlertConfig) -> dict[str, Any]:
    """The rules file as data (dump it as YAML)."""
    return {"groups": [{"name": "addvalue", "rules": [_rule(rule) for rule in config.rules]}]}
