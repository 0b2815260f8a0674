"""Progress of a replay on the terminal: a bar with events/s, for a rebuild run here or by the service."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from application.read_models.ports import RebuildEntry
from application.read_models.rebuilds import Rebuilds

__all__ = ["follow_rebuild", "progress_bar"]

POLL_SECONDS: Final = 0.2
PENDING_HINT_SECONDS: Final = 30.0


@contextmanager
def progress_bar(title: str, start: int | None = None) -> Iterator[Callable[[int, int], None]]:
    """A bar titled ``title``; the callback takes (position reached, position to reach) and shows stored events/s.

    ``start``: the position the replay starts from, when known (a replay run
    here): the rate counts from the bar's opening, the first page included.
    Without it (a replay followed in another process) it counts from the first
    report, and shows nothing until a second one.
    """
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(title, total=None, rate="")
        # When and where the rate is measured from: the opening, or the first report.
        origin: list[tuple[float, int]] = [] if start is None else [(time.monotonic(), start)]

        def show(position: int, target: int) -> None:
            now = time.monotonic()
            if not origin:
                origin.append((now, position))
            began, first = origin[0]
            rate = f"{(position - first) / (now - began):,.0f} stored events/s" if now > began else ""
            progress.update(task, completed=position, total=max(target, position), rate=rate)

        yield show


def follow_rebuild(rebuilds: Rebuilds, job_id: str, names: list[str]) -> int:
    """Show the service's rebuild of job ``job_id`` until it is swapped in (0) or has failed (1)."""
    print(
        f"addvalue: {', '.join(names)} run in another process (serve or worker); it rebuilds them beside the "
        f"live read models and swaps them in (job {job_id})",
        file=sys.stderr,
    )
    asked, hinted = time.monotonic(), False
    with progress_bar(f"{', '.join(names)} rebuild") as show:
        while True:
            entries = rebuilds.job(job_id)
            if failed := [e for e in entries if e.status == "failed"]:
                print(f"addvalue: rebuild failed: {failed[0].name}: {failed[0].error}", file=sys.stderr)
                return 1
            running = [e for e in entries if e.status != "pending"]
            if running:
                show(min(e.position for e in running), max(e.target for e in running))
            if all(e.status == "swapped" for e in entries):
                break
            if not running and not hinted and time.monotonic() - asked > PENDING_HINT_SECONDS:
                hinted = True
                print(
                    "addvalue: not taken up yet; the process running these takes it up after its next round "
                    "(ADDVALUE_PROJECTION_INTERVAL_SECONDS); Ctrl-C stops waiting, the request stays",
                    file=sys.stderr,
                )
            time.sleep(POLL_SECONDS)
    position = min(e.position for e in entries)
    print(f"{', '.join(names)}: rebuilt and swapped in at position {position}{_rate(entries, position)} (job {job_id})")
    return 0


def _rate(entries: list[RebuildEntry], position: int) -> str:
    """The replay's rate from the journal's own times: a rebuild may end before a second poll shows one."""
    started = [e.started_at for e in entries if e.started_at is not None]
    finished = [e.finished_at for e in entries if e.finished_at is not None]
    if not started or not finished:
        return ""
    seconds = (max(finished) - min(started)).total_seconds()
    return f" in {seconds:.1f} s, {position / seconds:,.0f} stored events/s" if seconds > 0 else ""
