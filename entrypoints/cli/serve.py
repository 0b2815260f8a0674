"""The long-running processes: ``serve`` (the HTTP service) and ``worker`` (projections and jobs)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import structlog

from application.read_models.live_activity import LiveActivityProjection
from application.read_models.projections import DailyCountsProjection
from application.read_models.user_days import UserDaysProjection
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.cli.output import Subcommands, fail
from entrypoints.cli.welcome import print_analyst_start
from entrypoints.runtime import as_background_work, started, tune_for_serving
from entrypoints.settings import Settings

__all__ = ["add_serve", "add_worker", "follow_projections", "serve", "share_metrics", "worker"]

log = structlog.get_logger(__name__)

# proxy_headers=False: uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1 (its default
# forwarded_allow_ips) and hand the app the header's address as the peer. Only ADDVALUE_TRUSTED_PROXIES
# decides whose X-Forwarded-For is read (domain.network.client_address), for one worker or many.
# server_header=False: no "server: uvicorn", which only tells an attacker what to look up.
# The names `worker --projections` accepts (Container.projections), known before anything is built.
PROJECTIONS: Final = (DailyCountsProjection.name, LiveActivityProjection.name, UserDaysProjection.name)
_UVICORN_OPTIONS: Final[dict[str, Any]] = {"log_level": "warning", "proxy_headers": False, "server_header": False}


def add_serve(commands: Subcommands) -> None:
    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--print-token", action="store_true", help="print a development service token at start")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="HTTP worker processes sharing the port, each with its own group commit (default 1; "
        "on a 2-core machine, 2 doubles what ingestion can use)",
    )


def add_worker(commands: Subcommands) -> None:
    worker = commands.add_parser(
        "worker",
        help="run projections and scheduled jobs in this process until stopped (with ADDVALUE_SERVE_PROJECTIONS=false "
        "on the servers)",
    )
    worker.add_argument(
        "--projections",
        default="",
        help="comma-separated names to run here (default: all); give each projection to one worker only",
    )
    worker.add_argument("--no-jobs", action="store_true", help="leave the batch jobs to another worker")


def serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from entrypoints.http.app import create_app

    if args.workers < 1:
        return fail("addvalue serve", "--workers must be at least 1", 2)
    share_metrics(settings, wipe=True)  # before any worker starts: they inherit the folder
    tune_for_serving()
    with bootstrap(settings) as container:  # also creates the tables, once, before any worker starts
        started()
        if args.print_token:
            _print_welcome(settings, container)
        if args.workers == 1:
            uvicorn.run(create_app(container), host=settings.host, port=settings.port, **_UVICORN_OPTIONS)
            return 0
    # Each worker process builds its own container from the same environment
    # (entrypoints.http.app.app_from_environment); writes of different workers are
    # kept apart by the event store's lock and keys, as for any two processes.
    uvicorn.run(
        "entrypoints.http.app:app_from_environment",
        factory=True,
        workers=args.workers,
        host=settings.host,
        port=settings.port,
        **_UVICORN_OPTIONS,
    )
    return 0


def _print_welcome(settings: Settings, container: Container) -> None:
    url = f"http://{settings.host}:{settings.port}"
    token = container.tokens.mint("demo-service", "service")
    print(f"\nAddValue Analytics is starting at {url}\n")
    print(f"A service token, valid 12 hours:\n  export TOKEN={token}\n")
    print(f"Try:\n  curl {url}/ready")
    example = _write_example_batch(settings, container)
    print(f'  curl -H "Authorization: Bearer $TOKEN" --data-binary @{example} {url}/v1/events\n')
    print_analyst_start(container, url)
    sys.stdout.flush()  # before uvicorn takes over: a pipe or file would otherwise hold it back


def _write_example_batch(settings: Settings, container: Container) -> Path:
    """A fresh two-event batch (consent, then a Wave joined) to try the API with."""
    from entrypoints.demo import example_batch

    folder = settings.database.sqlite_path.parent if settings.database.sqlite_path else Path.cwd()
    path = folder / "example-batch.json"
    path.write_bytes(example_batch(container.clock.now()))
    return path


def share_metrics(settings: Settings, *, wipe: bool) -> None:
    """Metrics in the folder every process of this service shares, so one scrape sees them all.

    ``serve`` wipes what earlier runs left (not a running worker's files); ``worker`` only joins.
    """
    from adapters.metrics.prometheus import default_metrics_dir, use_shared_folder

    use_shared_folder(settings.metrics_dir or default_metrics_dir(settings.database), wipe=wipe)


def worker(settings: Settings, args: argparse.Namespace) -> int:
    names = [n.strip() for n in args.projections.split(",") if n.strip()]
    unknown = sorted(set(names) - set(PROJECTIONS))
    if unknown:
        return fail("addvalue worker", f"unknown projection {unknown}; known: {sorted(PROJECTIONS)}", 2)
    share_metrics(settings, wipe=False)  # before bootstrap builds the metrics
    tune_for_serving()
    with bootstrap(settings) as container:
        started()
        return follow_projections(container, projections=names or None, with_jobs=not args.no_jobs)


def follow_projections(
    container: Container, *, projections: Sequence[str] | None = None, with_jobs: bool = True
) -> int:
    """Run the scheduled projection jobs in this process until SIGINT or SIGTERM."""
    import signal
    import threading

    as_background_work()

    from entrypoints.scheduler import scheduler_for

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    scheduler = scheduler_for(container, projections=projections, with_jobs=with_jobs)
    scheduler.start()
    log.info("projections.following", interval_seconds=container.settings.projection_interval_seconds)
    try:
        stop.wait()
    finally:
        scheduler.stop()
    return 0
