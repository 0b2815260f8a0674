"""Events in from the command line: ``demo`` (synthetic activity) and ``quarantine`` (rejected events)."""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import timedelta

import msgspec

from application.ingest.quarantine_book import QuarantineBook, QuarantineNotFound
from application.principals import Principal
from domain.errors import SubjectErased
from domain.periods import days_of, parse_period
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.cli.output import Subcommands, fail, print_json
from entrypoints.settings import Settings

__all__ = ["add_demo", "add_quarantine", "demo", "quarantine"]


def add_demo(commands: Subcommands) -> None:
    demo = commands.add_parser("demo", help="load synthetic activity through the real ingestion path")
    demo.add_argument("--users", type=int, default=50)
    demo.add_argument("--days", type=int, default=14, help="how many days back (at most 30)")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--if-empty", action="store_true", help="do nothing if the store already holds events")


def add_quarantine(commands: Subcommands) -> None:
    quarantine = commands.add_parser("quarantine", help="rejected events: list, show, replay after a fix")
    actions = quarantine.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="one JSON line per quarantined event")
    listing.add_argument("--all", action="store_true", help="also those already replayed or redacted")
    show = actions.add_parser("show", help="one entry and the bytes as received")
    show.add_argument("id", type=uuid.UUID)
    replay = actions.add_parser("replay", help="run kept events through ingestion again")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", type=uuid.UUID)
    which.add_argument("--all", action="store_true", help="every open entry that has its bytes")


def demo(settings: Settings, args: argparse.Namespace) -> int:
    if not 1 <= args.days <= 30:
        return fail("addvalue demo", "--days must be between 1 and 30 (older events are rejected)", 2)
    with bootstrap(settings) as container:
        if args.if_empty and container.store.recorder.max_notification_id():
            print("demo data already loaded; skipping (drop --if-empty to add more)")
            return 0
        totals = _ingest_demo(container, users=args.users, days=args.days, seed=args.seed)
        print(", ".join(f"{k} {v}" for k, v in totals.items()))
        _close_demo_days(container, args.days)
        return 0 if totals["rejected"] == 0 else 1


def _ingest_demo(container: Container, *, users: int, days: int, seed: int) -> dict[str, int]:
    """Send the demo's batches through ingestion with a progress bar; what became of the events."""
    from rich.progress import Progress

    from entrypoints.demo import demo_batches

    batches = list(demo_batches(users=users, days=days, now=container.clock.now(), seed=seed))
    principal = Principal(subject="demo", role="service")
    totals = {"accepted": 0, "rejected": 0, "not_collected": 0, "duplicates": 0}
    with Progress() as progress:
        task = progress.add_task(f"{users} people, {days} days", total=len(batches))
        for batch in batches:
            report = container.ingestion.ingest(batch, sent_at=None, principal=principal)
            totals["accepted"] += report.accepted
            totals["rejected"] += len(report.rejected)
            totals["not_collected"] += report.not_collected
            totals["duplicates"] += report.duplicates
            progress.advance(task)
    return totals


def _close_demo_days(container: Container, days: int) -> None:
    """Run the jobs for the demo's past days now, so the dashboards have closed days to show at once."""
    today = container.analytics.today()
    past = [today - timedelta(days=back) for back in range(days, 0, -1)]
    for day in past:
        for job in ("close-day", "daily-indices"):
            container.jobs.run(job, day)
    weeks = {parse_period("week", day.isoformat()) for day in past}
    for week in sorted(w for w in weeks if days_of("week", w)[1] < today):  # complete weeks only
        container.jobs.run("weekly-summary", week)
    months = {parse_period("month", day.isoformat()) for day in past}
    for month in sorted(m for m in months if days_of("month", m)[1] < today):
        container.jobs.run("monthly-summary", month)
    print(f"closed {len(past)} days and ran their jobs (addvalue jobs history lists the runs)")


def quarantine(settings: Settings, args: argparse.Namespace) -> int:
    with bootstrap(settings) as container:
        book = container.quarantine
        try:
            if args.action == "list":
                for entry in book.entries(only_open=not args.all):
                    print_json(entry)
                return 0
            if args.action == "show":
                print_json(book.entry(args.id))
                raw = book.payload(args.id)
                print(raw.decode(errors="replace") if raw is not None else "(the bytes were not kept: no consent to)")
                return 0
            return _replay(book, [args.id] if args.id else None)
        except (QuarantineNotFound, SubjectErased) as e:
            return fail("addvalue quarantine", e, 1)


def _replay(book: QuarantineBook, chosen: list[uuid.UUID] | None) -> int:
    """Replay the chosen entries (None: every open one with its bytes); 1 if any event is still rejected."""
    targets = chosen or [e.id for e in book.entries(only_open=True) if e.has_payload]
    failed = 0
    for target in targets:
        report = book.replay(target)
        print_json({"id": target, **msgspec.structs.asdict(report)})
        failed += len(report.rejected)
    print(f"replayed {len(targets)}, still rejected {failed}", file=sys.stderr)
    return 0 if failed == 0 else 1
