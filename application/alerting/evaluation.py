"""Evaluating the alert rules, recording their transitions, and delivering notifications from the outbox.

One process evaluates (the one holding the jobs' lease, see entrypoints/alert_loop.py). Each
evaluation reads the signals of each rule, takes the rule one step through
inactive → pending → firing → resolved, records a transition as an ``Alert``
event, and enqueues the notifications of a firing, a repeat (every
``repeat_interval`` while firing) or a resolve. Enqueueing is keyed
(alert, start of the firing, what, receiver), so enqueueing again after a
crash adds nothing; delivery then tries each due one and, on failure, tries it
again later with a growing delay, so a receiver that was down gets every one
once it is back, in order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import msgspec
import structlog
from eventsourcing.utils import get_topic

from application.alerting.messages import alertmanager_body, dumps, email_text, slack_body
from application.alerting.ports import Notification, Outbox, Sender, SignalSource, Silence, Silences
from application.alerting.rules import AlertConfig
from application.ports import Clock
from application.store import AnalyticsStore
from domain.alert_conditions import signals_of
from domain.alerts import Alert, AlertRule, next_step

__all__ = ["AlertState", "Alerting", "Transition", "backoff", "matches"]

log = structlog.get_logger(__name__)

# Delays between delivery attempts: 5 s, 10 s, 20 s, … at most 5 minutes; never given up.
FIRST_RETRY: Final = timedelta(seconds=5)
LONGEST_RETRY: Final = timedelta(minutes=5)


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt."""
    delay: timedelta = FIRST_RETRY * 2 ** min(attempts - 1, 16)
    return min(delay, LONGEST_RETRY)


class AlertState(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    severity: str
    condition: str
    state: str
    since: datetime | None
    labels: dict[str, str]
    receivers: list[str]
    runbook: str


class Transition(msgspec.Struct, frozen=True, kw_only=True):
    alert: str
    to: str
    at: datetime
    values: dict[str, float | None]


def matches(silence: Silence, labels: Mapping[str, str], now: datetime) -> bool:
    """The silence is in force and every matcher matches the labels."""
    if not silence.starts_at <= now < silence.ends_at:
        return False
    for matcher in silence.matchers:
        value = labels.get(str(matcher["name"]), "")
        wanted = str(matcher["value"])
        if matcher.get("regex") and re.fullmatch(wanted, value) is None:
            return False
        if not matcher.get("regex") and value != wanted:
            return False
    return True


class Alerting:
    def __init__(
        self,
        store: AnalyticsStore,
        config: AlertConfig,
        signals: SignalSource,
        *,
        outbox: Outbox,
        silences: Silences,
        senders: Mapping[str, Sender],
        clock: Clock,
        external_url: str = "",
    ) -> None:
        self.config = config
        self._store = store
        self._signals = signals
        self.outbox = outbox
        self.silences = silences
        self._senders = senders
        self._clock = clock
        self._external_url = external_url
        self._rules = {rule.name: rule for rule in config.rules}

    def now(self) -> datetime:
        return self._clock.now()

    def test(self, name: str, *, send: bool) -> dict[str, Any] | None:
        """The rule's signals and whether its condition holds now; with ``send``, a test notification
        (status firing) enqueued and the outbox delivered. None: no such rule."""
        rule = self._rules.get(name)
        if rule is None:
            return None
        now = self._clock.now()
        values = self._signals.read(signals_of(rule.condition), rule.window, now)
        found: dict[str, Any] = {"name": name, "holds": rule.condition.holds(values), "values": values}
        if send:
            self._notify(rule, "firing", now, now, values, repeat=-1)
            found["delivered"], found["failed"] = self.deliver()
        return found

    def evaluate(self) -> list[Transition]:
        """One round: every rule evaluated, transitions recorded, notifications enqueued; the transitions."""
        now = self._clock.now()
        done = []
        for rule in self.config.rules:
            values = self._signals.read(signals_of(rule.condition), rule.window, now)
            alert = self._store.find(Alert.create_id(rule.name), Alert) or Alert.define(rule.name)
            step = next_step(alert.state, rule.condition.holds(values), pending_since=alert.since, now=now, rule=rule)
            started = alert.since
            if step.event is not None:
                alert.transition(step.event, now, values)
                with self._store.write_lock:
                    self._store.save(alert)
                done.append(Transition(alert=rule.name, to=step.event, at=now, values=values))
                log.info("alert.transition", alert=rule.name, to=step.event, values=values)
            if step.event == "resolved" and started is not None:
                self._notify(rule, "resolved", started, now, values)
            elif alert.state == "firing" and alert.since is not None:
                # Each round, not only at the transition: after a crash between the save and this, it is added now.
                repeats = int((now - alert.since) / self.config.repeat_interval)
                self._notify(rule, "firing", alert.since, now, values, repeat=repeats)
        return done

    def _notify(
        self,
        rule: AlertRule,
        status: str,
        started: datetime,
        now: datetime,
        values: dict[str, float | None],
        *,
        repeat: int = 0,
    ) -> None:
        if any(matches(s, rule.all_labels(), now) for s in self.silences.all()):
            return  # silenced: evaluated and recorded, not sent
        what = f"{status}#{repeat}" if status == "firing" else status
        queued = []
        for name in rule.notification:
            for receiver in self.config.receivers.get(name, ()):
                key = f"{rule.name}|{started.isoformat()}|{what}|{name}|{receiver.kind}:{receiver.target}"
                if receiver.kind == "email":
                    subject, body = email_text(rule, status, values, now)
                else:
                    subject = ""
                    ends = now if status == "resolved" else None
                    payload: dict[str, Any] = (
                        alertmanager_body(
                            rule,
                            status,
                            receiver=name,
                            starts_at=started,
                            ends_at=ends,
                            values=values,
                            external_url=self._external_url,
                        )
                        if receiver.kind == "webhook"
                        else slack_body(rule, status, values)
                    )
                    body = dumps(payload)
                queued.append(
                    Notification(
                        key=key, receiver=name, kind=receiver.kind, target=receiver.target, body=body, subject=subject
                    )
                )
        if queued:
            self.outbox.enqueue(queued, now)

    def deliver(self) -> tuple[int, int]:
        """Try every due notification once; (delivered, failed)."""
        now = self._clock.now()
        delivered = failed = 0
        for notification in self.outbox.due(now):
            sender = self._senders.get(notification.kind)
            try:
                if sender is None:
                    raise RuntimeError(f"no sender for {notification.kind} (ADDVALUE_SMTP_URL unset?)")
                sender.send(notification)
            except Exception as e:  # any failure: kept, tried again later
                failed += 1
                retry_at = now + backoff(notification.attempts + 1)
                self.outbox.failed(notification.id, f"{type(e).__name__}: {e}", retry_at)
                log.warning("alert.delivery_failed", key=notification.key, error=str(e), retry_at=retry_at.isoformat())
                continue
            self.outbox.delivered(notification.id, now)
            delivered += 1
        return delivered, failed

    def tick(self) -> None:
        self.evaluate()
        self.deliver()

    def states(self) -> list[AlertState]:
        """Every rule's state now, as recorded."""
        found = []
        for rule in self.config.rules:
            alert = self._store.find(Alert.create_id(rule.name), Alert)
            found.append(
                AlertState(
                    name=rule.name,
                    severity=rule.severity,
                    condition=rule.condition_text,
                    state=alert.state if alert else "inactive",
                    since=alert.since if alert else None,
                    labels=rule.all_labels(),
                    receivers=list(rule.notification),
                    runbook=rule.runbook,
                )
            )
        return found

    def history(self, limit: int = 1000) -> list[Transition]:
        """The latest transitions of every alert, oldest first."""
        names = {Alert.create_id(r.name): r.name for r in self.config.rules}
        found = []
        for notification in self._store.iter_log(topics=[get_topic(Alert.Transitioned)]):
            event = self._store.mapper.to_domain_event(notification)
            name = names.get(event.originator_id)
            if name is None:
                alert = self._store.find(event.originator_id, Alert)
                name = names[event.originator_id] = alert.name if alert else str(event.originator_id)
            found.append(Transition(alert=name, to=event.to, at=event.at, values=dict(event.value)))  # type: ignore[attr-defined]
        return found[-limit:]

    def silence(self, silence: Silence) -> None:
        self.silences.add_silence(silence)

    def active_silences(self) -> Sequence[Silence]:
        now = self._clock.now()
        return [s for s in self.silences.all() if s.ends_at > now]
