"""What a notification says: Alertmanager's webhook body (version 4), a Slack message, an email."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Final

from domain.alerts import AlertRule

__all__ = ["ZERO_TIME", "alertmanager_body", "email_text", "fingerprint", "slack_body"]

# Alertmanager's endsAt of an alert that has not ended.
ZERO_TIME: Final = "0001-01-01T00:00:00Z"


def fingerprint(labels: dict[str, str]) -> str:
    """A stable 16-hex-digit id of the label set, as Alertmanager's."""
    text = "\xff".join(f"{k}\xff{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def notes_of(rule: AlertRule, values: dict[str, float | None]) -> dict[str, str]:
    shown = ", ".join(f"{k}={'no data' if v is None else f'{v:g}'}" for k, v in values.items())
    found = {
        "summary": f"{rule.name}: {rule.condition_text}",
        "description": f"condition {rule.condition_text}; {shown}",
    }
    return found | ({"runbook_url": rule.runbook} if rule.runbook else {})


def alertmanager_body(
    rule: AlertRule,
    status: str,
    *,
    receiver: str,
    starts_at: datetime,
    ends_at: datetime | None,
    values: dict[str, float | None],
    external_url: str,
) -> dict[str, Any]:
    """The JSON Alertmanager posts to a webhook receiver, version 4, for this one alert."""
    labels = rule.all_labels()
    notes = notes_of(rule, values)
    alert = {
        "status": status,
        "labels": labels,
        "annotations": notes,
        "startsAt": _iso(starts_at),
        "endsAt": _iso(ends_at) if ends_at is not None else ZERO_TIME,
        "generatorURL": f"{external_url}/api/alerts",
        "fingerprint": fingerprint(labels),
    }
    group = {"alertname": rule.name}
    return {
        "version": "4",
        "groupKey": '{}:{alertname="' + rule.name.replace('"', '\\"') + '"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": group,
        "commonLabels": labels,
        "commonAnnotations": notes,
        "externalURL": external_url,
        "alerts": [alert],
    }


def slack_body(rule: AlertRule, status: str, values: dict[str, float | None]) -> dict[str, Any]:
    """A Slack-compatible incoming-webhook message."""
    mark = "RESOLVED" if status == "resolved" else "FIRING"
    text = f"[{mark}] {rule.name} ({rule.severity}): {notes_of(rule, values)['description']}"
    return {"text": text + (f"\nRunbook: {rule.runbook}" if rule.runbook else "")}


def email_text(rule: AlertRule, status: str, values: dict[str, float | None], at: datetime) -> tuple[str, str]:
    """(subject, body) of the email."""
    mark = "RESOLVED" if status == "resolved" else "FIRING"
    subject = f"[{mark}] {rule.name} ({rule.severity})"
    lines = [subject, "", notes_of(rule, values)["description"], f"at {_iso(at)}"]
    if rule.runbook:
        lines.append(f"runbook: {rule.runbook}")
    return subject, "\n".join(lines) + "\n"


def dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True)
