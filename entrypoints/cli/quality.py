"""``addvalue quality report [--date D]``: a day's recorded data quality, as ``GET /api/quality`` gives it."""

from __future__ import annotations

import argparse
from datetime import date, timedelta

from entrypoints.bootstrap import bootstrap
from entrypoints.cli.output import Subcommands, fail, print_json
from entrypoints.settings import Settings

__all__ = ["add_quality", "quality"]


def add_quality(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "quality", help="data quality: the scores and failing checks the data-quality job recorded"
    )
    actions = parser.add_subparsers(dest="action", required=True)
    report = actions.add_parser(
        "report", help="one day's scores (0-100 per dimension) and every check with its figures"
    )
    report.add_argument("--date", help="the day, e.g. 2026-11-24 (default: yesterday, UTC)")


def quality(settings: Settings, args: argparse.Namespace) -> int:
    with bootstrap(settings) as container:
        try:
            day = date.fromisoformat(args.date) if args.date else container.clock.now().date() - timedelta(days=1)
        except ValueError:
            return fail("addvalue quality report", "--date: expected a date like 2026-11-24", 2)
        report = container.quality.quality_on(day)
        if report is None:
            return fail(
                "addvalue quality report",
                f"{day} has not been checked yet (addvalue jobs run data-quality --date {day})",
                1,
            )
        print_json(report.shown())
        return 0
