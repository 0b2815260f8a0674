"""The alert file: its ``alerts`` and ``receivers``, checked against the signals the service computes.

The file is read by an adapter (YAML); this module takes the document as plain
data, so every mistake is reported the same way wherever the file came from:
the rule, the field (and for a condition the column) and what was expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from domain.alert_conditions import ConditionError, SignalKind, parse_condition, parse_duration
from domain.alerts import AlertRule, Receiver

__all__ = ["DEFAULT_REPEAT_INTERVAL", "QUALITY_DIMENSIONS", "SIGNALS", "AlertConfig", "RulesError", "rules_from"]

QUALITY_DIMENSIONS: Final = ("completeness", "accuracy", "timeliness", "consistency")

# Every signal a condition may name, and its kind; docs/operations.md ("Alerting") defines each.
SIGNALS: Final[dict[str, SignalKind]] = {
    "error_rate": "ratio",
    "duplicate_rate": "ratio",
    "null_rate": "ratio",
    "rejected_events": "count",
    "submitted_events": "count",
    "processing_lag": "duration",
    "processing_lag_events": "count",
    "daily_job_failed": "boolean",
    "job_failed": "boolean",
    "metric_anomaly": "count",
    "quality_score": "score",
    **{f"quality_{d}": "score" for d in QUALITY_DIMENSIONS},
}
DEFAULT_REPEAT_INTERVAL: Final = timedelta(hours=4)
_RULE_FIELDS: Final = {"name", "condition", "severity", "notification", "for", "window", "labels", "runbook"}
_RECEIVER_KINDS: Final = ("webhook", "slack", "email")


class RulesError(ValueError):
    """The alert file is not usable; the message names the rule, the field and what was expected."""


@dataclass(frozen=True)
class AlertConfig:
    rules: tuple[AlertRule, ...]
    receivers: dict[str, tuple[Receiver, ...]] = field(default_factory=dict)
    repeat_interval: timedelta = DEFAULT_REPEAT_INTERVAL
    source: str = "the default alert file"


def rules_from(document: Any, source: str) -> AlertConfig:
    """The alert file's rules and receivers; RulesError saying what is wrong and where."""
    if not isinstance(document, Mapping) or not isinstance(document.get("alerts"), list):
        raise RulesError(f"{source}: expected a mapping with an 'alerts:' list")
    receivers = _receivers(document.get("receivers") or {}, source)
    rules, seen = [], set()
    for i, entry in enumerate(document["alerts"], start=1):
        rule = _rule(entry, f"{source}: alert {i}", receivers)
        if rule.name in seen:
            raise RulesError(f"{source}: alert {i} ({rule.name!r}): name: expected a name no other alert has")
        seen.add(rule.name)
        rules.append(rule)
    repeat = _duration(document.get("repeat_interval", "4h"), f"{source}: repeat_interval")
    return AlertConfig(rules=tuple(rules), receivers=receivers, repeat_interval=repeat, source=source)


def _rule(entry: Any, where: str, receivers: Mapping[str, tuple[Receiver, ...]]) -> AlertRule:
    if not isinstance(entry, Mapping):
        raise RulesError(f"{where}: expected a mapping with name, condition, severity and notification")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RulesError(f"{where}: name: expected a non-empty text")
    where = f"{where} ({name!r})"
    unknown = set(entry) - _RULE_FIELDS
    if unknown:
        raise RulesError(f"{where}: {sorted(unknown)[0]}: expected one of {', '.join(sorted(_RULE_FIELDS))}")
    text = _text(entry, "condition", where)
    try:
        condition = parse_condition(text, SIGNALS)
    except ConditionError as e:
        raise RulesError(f"{where}: condition {text!r}: {e}") from None
    notification = entry.get("notification", ())
    names = (notification,) if isinstance(notification, str) else tuple(notification)
    for receiver in names:
        if receiver not in receivers and receivers:
            known = ", ".join(sorted(receivers))
            raise RulesError(f"{where}: notification: expected a receiver of 'receivers:' ({known}), got {receiver!r}")
    labels = entry.get("labels") or {}
    if not isinstance(labels, Mapping):
        raise RulesError(f"{where}: labels: expected a mapping of label names to values")
    return AlertRule(
        name=name,
        condition_text=text,
        condition=condition,
        severity=_text(entry, "severity", where),
        notification=names,
        for_=_duration(entry.get("for", "0s"), f"{where}: for"),
        window=_duration(entry.get("window", "5m"), f"{where}: window"),
        labels={str(k): str(v) for k, v in labels.items()},
        runbook=str(entry.get("runbook", "")),
    )


def _text(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RulesError(f"{where}: {key}: expected a non-empty text")
    return value


def _duration(value: Any, where: str) -> timedelta:
    try:
        return timedelta(seconds=parse_duration(str(value)))
    except ValueError as e:
        raise RulesError(f"{where}: {e}") from None


def _receivers(document: Any, source: str) -> dict[str, tuple[Receiver, ...]]:
    if not isinstance(document, Mapping):
        raise RulesError(f"{source}: receivers: expected a mapping of names to lists of webhook, slack or email")
    found = {}
    for name, targets in document.items():
        where = f"{source}: receivers: {name}"
        if not isinstance(targets, list):
            raise RulesError(f"{where}: expected a list of {{webhook: URL}}, {{slack: URL}} or {{email: ADDRESS}}")
        parsed = []
        for target in targets:
            if not isinstance(target, Mapping) or len(target) != 1 or next(iter(target)) not in _RECEIVER_KINDS:
                raise RulesError(
                    f"{where}: expected {{webhook: URL}}, {{slack: URL}} or {{email: ADDRESS}}, got {target!r}"
                )
            kind, value = next(iter(target.items()))
            if kind != "email" and not str(value).startswith(("http://", "https://")):
                raise RulesError(f"{where}: {kind}: expected an http:// or https:// URL, got {value!r}")
            if kind == "email" and "@" not in str(value):
                raise RulesError(f"{where}: email: expected an address, got {value!r}")
            parsed.append(Receiver(kind, str(value)))
        found[str(name)] = tuple(parsed)
    return found
