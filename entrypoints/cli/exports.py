"""``addvalue export DATASET --from D --to D --format F --output FILE``: an aggregate dataset to a file.

The same rows and encoders as ``GET /api/exports/{dataset}`` (docs/reports.md), written chunk by
chunk, with a progress bar over the range's days on stderr.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

from adapters.exports.files import FORMATS, encode
from application.errors import BadQuery, NotFound
from application.reporting.exports import DATASETS, Exports
from domain.periods import days_of
from entrypoints.bootstrap import bootstrap
from entrypoints.cli.output import Subcommands, fail
from entrypoints.settings import Settings

__all__ = ["add_export", "export"]


def add_export(commands: Subcommands) -> None:
    parser = commands.add_parser("export", help="export an aggregate dataset (CSV, Parquet or JSON) to a file")
    parser.add_argument("dataset", help=f"one of: {', '.join(DATASETS)}")
    parser.add_argument("--from", dest="first", required=True, type=date.fromisoformat, help="first day, 2026-01-01")
    parser.add_argument("--to", dest="last", required=True, type=date.fromisoformat, help="last day, 2026-03-31")
    parser.add_argument("--format", choices=FORMATS, default="csv")
    parser.add_argument("--output", required=True, type=Path, help="the file to write (replaced if it exists)")


def export(settings: Settings, args: argparse.Namespace) -> int:
    with bootstrap(settings) as container:
        exporter = Exports(container.analytics, container.quality)
        try:
            dataset = exporter.check(args.dataset, args.first, args.last)
        except (BadQuery, NotFound) as e:
            return fail("addvalue export", e, 2)
        total = (args.last - args.first).days + 1
        rows = 0
        with Progress(console=Console(stderr=True)) as progress, args.output.open("wb") as out:
            task = progress.add_task(f"{args.dataset} {args.first} to {args.last}", total=total)

            def counted() -> Iterator[dict[str, Any]]:
                nonlocal rows
                for row in exporter.rows(args.dataset, args.first, args.last):
                    rows += 1
                    progress.update(task, completed=(_day_of(row) - args.first).days)
                    yield row

            for chunk in encode(dataset, counted(), args.format, args.first, args.last):
                out.write(chunk)
            progress.update(task, completed=total)
        print(f"{rows} rows of {args.dataset} written to {args.output}")
        return 0


def _day_of(row: dict[str, Any]) -> date:
    """How far into the range a row is: its day, or the first day of its week or month."""
    for key in ("date", "hour"):
        if isinstance(row.get(key), datetime):
            return row[key].date()  # type: ignore[no-any-return]
        if isinstance(row.get(key), date):
            return row[key]  # type: ignore[no-any-return]
    if "month" in row:
        return days_of("month", row["month"])[0]
    return days_of("week", row["week"])[0]
