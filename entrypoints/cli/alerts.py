"""``addvalue alerts``: check an alert file, list states and history, test a rule, silence, Prometheus rules."""

from __future__ import annotations

import argparse
import uuid
from datetime import timedelta
from typing import Final

import yaml

from adapters.alerting.rules_file import load_alert_file
from application.alerting.evaluation import Alerting
from application.alerting.ports import Silence
from application.alerting.prometheus import prometheus_rules
from application.alerting.rules import RulesError
from domain.alert_conditions import parse_duration, signals_of
from entrypoints.bootstrap import bootstrap
from entrypoints.cli.output import Subcommands, fail, print_json
from entrypoints.settings import Settings, alerts_file_setting

__all__ = ["FILE_ONLY", "add_alerts", "alerts", "alerts_file", "matchers_of"]


def add_alerts(commands: Subcommands) -> None:
    parser = commands.add_parser("alerts", help="alert rules: check a file, states, history, test, silences")
    actions = parser.add_subparsers(dest="action", required=True)
    check = actions.add_parser("check", help="validate an alert file (default: ADDVALUE_ALERTS_FILE) and exit")
    check.add_argument("file", nargs="?")
    actions.add_parser("list", help="each alert: its state now, since when, its condition and receivers")
    actions.add_parser("history", help="every recorded transition: pending, firing, resolved, cleared")
    test = actions.add_parser("test", help="evaluate one alert now and print its signals; --send notifies")
    test.add_argument("name")
    test.add_argument("--send", action="store_true", help="send a test notification to its receivers now")
    actions.add_parser("prometheus-rules", help="print the rules as a Prometheus rules file over /metrics")
    silence = actions.add_parser("silence", help="silences: add, list, expire")
    silence_actions = silence.add_subparsers(dest="silence_action", required=True)
    add = silence_actions.add_parser("add", help="stop notifications of matching alerts for a while")
    add.add_argument("--match", action="append", required=True, help="label=value or label=~regex (repeatable)")
    add.add_argument("--duration", default="2h", help="how long, e.g. 30m, 2h (default 2h)")
    add.add_argument("--author", required=True)
    add.add_argument("--comment", required=True)
    silence_actions.add_parser("list", help="every silence, ended ones included")
    expire = silence_actions.add_parser("expire", help="end a silence now")
    expire.add_argument("id")


def matchers_of(texts: list[str]) -> list[dict[str, str | bool]]:
    """``severity=critical`` or ``alertname=~Pipeline.*``; ValueError saying what is expected."""
    found: list[dict[str, str | bool]] = []
    for text in texts:
        regex = "=~" in text
        name, sep, value = text.partition("=~" if regex else "=")
        if not sep or not name.strip():
            raise ValueError(f"expected label=value or label=~regex, got {text!r}")
        found.append({"name": name.strip(), "value": value.strip(), "regex": regex})
    return found


# The actions that read only an alert file: they run without the settings, so they open no database and
# write no development secret (entrypoints.cli.main runs them before loading the settings).
FILE_ONLY: Final = ("check", "prometheus-rules")


def alerts_file(args: argparse.Namespace) -> int:
    """``alerts check`` and ``alerts prometheus-rules``: the file given, else ADDVALUE_ALERTS_FILE, else the seed's."""
    try:
        config = load_alert_file(args.file if getattr(args, "file", None) else alerts_file_setting())
    except RulesError as e:
        return fail("addvalue alerts check", e, 2)
    if args.action == "prometheus-rules":
        print(yaml.safe_dump(prometheus_rules(config), sort_keys=False), end="")
        return 0
    for rule in config.rules:
        print_json({"name": rule.name, "condition": rule.condition_text, "signals": signals_of(rule.condition)})
    print(f"{config.source}: {len(config.rules)} alerts, {len(config.receivers)} receivers: OK")
    return 0


def alerts(settings: Settings, args: argparse.Namespace) -> int:
    if args.action in FILE_ONLY:
        return alerts_file(args)
    with bootstrap(settings) as container:
        return _run(container.alerting, args)


def _run(alerting: Alerting, args: argparse.Namespace) -> int:
    if args.action == "list":
        for state in alerting.states():
            print_json(state)
        return 0
    if args.action == "history":
        for transition in alerting.history():
            print_json(transition)
        return 0
    if args.action == "test":
        found = alerting.test(args.name, send=args.send)
        if found is None:
            known = ", ".join(rule.name for rule in alerting.config.rules)
            return fail("addvalue alerts test", f"no alert is called {args.name!r}; there are: {known}", 2)
        print_json(found)
        return 0 if not args.send or found["failed"] == 0 else 1
    return _silence(alerting, args)


def _silence(alerting: Alerting, args: argparse.Namespace) -> int:
    now = alerting.now()
    if args.silence_action == "list":
        for silence in alerting.silences.all():
            print_json(silence)
        return 0
    if args.silence_action == "expire":
        if not alerting.silences.expire(args.id, now):
            return fail("addvalue alerts silence expire", f"no silence has the id {args.id!r}", 2)
        return 0
    try:
        matchers = matchers_of(args.match)
        duration = timedelta(seconds=parse_duration(args.duration))
    except ValueError as e:
        return fail("addvalue alerts silence add", e, 2)
    silence = Silence(
        id=str(uuid.uuid4()),
        matchers=matchers,
        starts_at=now,
        ends_at=now + duration,
        author=args.author,
        comment=args.comment,
    )
    alerting.silence(silence)
    print_json(silence)
    return 0
