"""The executive reports from the command line: ``reports list | run | send | show`` (docs/reports.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from application.errors import NotFound
from application.reporting.jobs import PeriodError, PeriodNotOver
from application.reporting.ports import NotConfigured
from application.reporting.scheduled_reports import REPORTS
from domain.periods import parse_period
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.cli.output import Subcommands, fail, print_json
from entrypoints.settings import Settings

__all__ = ["add_reports", "reports"]

_WHERE = "addvalue reports"
_PERIOD_HELP = "the period: 2026-W48 or a date in it (weekly-executive), 2026-11 or a date in it (monthly-executive)"


def add_reports(commands: Subcommands) -> None:
    parser = commands.add_parser("reports", help="the executive reports: list, generate, send, save as a file")
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="each report, its schedule, recipients, and the periods generated")
    run = actions.add_parser(
        "run",
        help="generate the period's report (once; a rerun keeps it) and queue it for its recipients; "
        "a period not yet over is refused with exit status 2",
    )
    send = actions.add_parser("send", help="send a generated report to one address now (not generated again)")
    show = actions.add_parser("show", help="write a generated report to a file, as HTML (the e-mail) or PDF")
    for action in (run, send, show):
        action.add_argument("name", choices=list(REPORTS))
        action.add_argument("--period", required=action is not run, help=_PERIOD_HELP + " (run: the last one)")
    send.add_argument("--to", required=True, help="the e-mail address")
    show.add_argument("--format", choices=("html", "pdf"), default="pdf")
    show.add_argument("--output", required=True, type=Path, help="the file to write (replaced if it exists)")


def reports(settings: Settings, args: argparse.Namespace) -> int:
    with bootstrap(settings) as container:
        try:
            return _ACTIONS[args.action](container, args)
        except PeriodNotOver as e:
            return fail(_WHERE, f"{args.name} cannot run for {e.label} yet: {e}", 2)
        except (PeriodError, NotFound, NotConfigured) as e:
            return fail(_WHERE, e, 2)


def _list(container: Container, _: argparse.Namespace) -> int:
    generated = container.report_desk.listed()
    for spec in REPORTS.values():
        print_json(
            {
                "name": spec.name,
                "schedule": spec.schedule,
                "time_zone": container.settings.reporting_timezone,
                "period": spec.cadence,
                "description": spec.description,
                "recipients": list(container.settings.report_recipients.get(spec.name, ())),
                "generated": [p for r, p, _, _ in generated if r == spec.name],
            }
        )
    return 0


def _run(container: Container, args: argparse.Namespace) -> int:
    report = container.jobs.run(args.name, args.period)
    print_json(report)
    return 0 if report.status == "succeeded" else 1


def _send(container: Container, args: argparse.Namespace) -> int:
    period = _period(args)
    sent = container.report_desk.send(args.name, period, args.to)
    print_json({"report": args.name, "period": period, "to": args.to, "status": "sent" if sent else "queued"})
    return 0


def _show(container: Container, args: argparse.Namespace) -> int:
    artifact = container.report_desk.get(args.name, _period(args))
    if args.format == "pdf":
        args.output.write_bytes(artifact.pdf)
    else:
        args.output.write_text(artifact.html)
    print(f"{args.name} {artifact.period} ({args.format}) written to {args.output}")
    return 0


def _period(args: argparse.Namespace) -> str:
    return parse_period(REPORTS[args.name].cadence, args.period)


_ACTIONS = {"list": _list, "run": _run, "send": _send, "show": _show}
