"""The read models from the command line: ``projections`` (status, catch up, rebuild) and ``project``."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from application.read_models.projections import CatchUp, PagedProjection, catch_up_together
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.cli.output import Subcommands, fail, print_json
from entrypoints.cli.rebuild_progress import follow_rebuild, progress_bar
from entrypoints.cli.serve import follow_projections
from entrypoints.runtime import started, tune_for_serving
from entrypoints.settings import Settings

__all__ = ["add_project", "add_projections", "project", "projections"]


def add_projections(commands: Subcommands) -> None:
    projections = commands.add_parser("projections", help="the read models: status, catch up or rebuild one or all")
    views = projections.add_subparsers(dest="action", required=True)
    views.add_parser("status", help="each projection's position and how far behind the event log it is")
    for action in ("catch-up", "rebuild"):
        chosen = views.add_parser(action, help=f"{action} a projection by name, or --all")
        pick = chosen.add_mutually_exclusive_group(required=True)
        pick.add_argument("name", nargs="?")
        pick.add_argument("--all", action="store_true")


def add_project(commands: Subcommands) -> None:
    project = commands.add_parser("project", help="bring the read models up to date, or rebuild them")
    project.add_argument("--rebuild", action="store_true", help="clear and replay the whole history")
    project.add_argument(
        "--follow",
        action="store_true",
        help="keep catching up (and rebuild on schedule) until stopped: the projection worker process",
    )


def project(settings: Settings, args: argparse.Namespace) -> int:
    tune_for_serving()
    with bootstrap(settings) as container:
        started()
        if args.follow:
            return follow_projections(container)
        if busy := _held_elsewhere(container, list(container.projections)):
            return busy
        for projection in container.projections.values():
            _run_projection(projection, rebuild=args.rebuild)
        return 0


def projections(settings: Settings, args: argparse.Namespace) -> int:
    with bootstrap(settings) as container:
        known = container.projections
        if args.action == "status":
            target = container.store.recorder.max_notification_id() or 0
            for name, projection in known.items():
                position = projection.position()
                print_json({"name": name, "position": position, "behind": target - position})
            return 0
        names = list(known) if args.all else [args.name]
        unknown = [n for n in names if n not in known]
        if unknown or not names:
            return fail("addvalue projections", f"unknown projection {unknown or names}; known: {sorted(known)}", 2)
        rebuild = args.action == "rebuild"
        if rebuild and (elsewhere := [n for n in names if not container.leases.hold(n)]):
            return _rebuild_while_served(container, names, elsewhere)
        if busy := _held_elsewhere(container, names):
            return busy
        if len(names) > 1:
            _run_together(container, [known[n] for n in names], rebuild=rebuild)
            return 0
        for name in names:
            _run_projection(known[name], rebuild=rebuild)
        return 0


def _rebuild_while_served(container: Container, names: list[str], elsewhere: list[str]) -> int:
    """Those another process runs: rebuilt by it on request, followed here; any nobody runs: rebuilt here.

    The holder of a projection's lease is its only writer (docs/architecture.md, "Rebuilding while the
    service runs"), so the swap never races with its catch-ups.
    """
    job_id = container.rebuilds.request(elsewhere)
    if free := [n for n in names if n not in elsewhere]:
        _run_together(container, [container.projections[n] for n in free], rebuild=True)
    return follow_rebuild(container.rebuilds, job_id, elsewhere)


def _held_elsewhere(container: Container, names: list[str]) -> int:
    """2 (and a message) when another process runs one of these projections; 0 when this one may."""
    elsewhere = [name for name in names if not container.leases.hold(name)]
    if elsewhere:
        print(
            f"addvalue: {', '.join(elsewhere)} is being run by another process (serve or worker), which keeps "
            "it current and rebuilds it on schedule; stop that process first to run it here",
            file=sys.stderr,
        )
        return 2
    return 0


def _run_together(container: Container, chosen: list[PagedProjection[Any]], *, rebuild: bool) -> None:
    """Several projections in one pass over the log, then what it did and how fast."""
    begun = time.monotonic()
    names = ", ".join(p.name for p in chosen)
    start = 0 if rebuild else min(p.position() for p in chosen)
    with progress_bar(f"{names} " + ("rebuild" if rebuild else "catch-up"), start) as show:
        result = catch_up_together(container.store, chosen, rebuild=rebuild, on_progress=show)
    print(f"{names}: {_speed(result, start, begun)} (read once for all)")


def _run_projection(projection: PagedProjection[Any], *, rebuild: bool) -> None:
    """One catch-up or rebuild with a progress bar, then what it did and how fast."""
    begun = time.monotonic()
    start = 0 if rebuild else projection.position()
    with progress_bar(f"{projection.name} " + ("rebuild" if rebuild else "catch-up"), start) as show:
        result = (projection.rebuild if rebuild else projection.catch_up)(show)
    print(f"{projection.name}: {_speed(result, start, begun)}")


def _speed(result: CatchUp, start: int, begun: float) -> str:
    """What a pass did and how fast. Of the stored events it passed (log positions), only those of the classes
    the projections read were read (application.read_models.projections.read_topics)."""
    elapsed = max(time.monotonic() - begun, 1e-9)
    passed = result.position - start
    return (
        f"{result.processed} events read of {passed} stored, {result.redacted_skipped} redacted skipped, "
        f"position {result.position}, {result.catalog_events} catalog events, "
        f"{passed / elapsed:,.0f} stored events/s, {result.catalog_events / elapsed:,.0f} catalog events/s"
    )
