"""The ``addvalue`` command line: the parser of every command, and the dispatch to the module that runs it.

Each command lives with its area: ``serve`` (the service and the worker),
``ingest`` (demo data, quarantine), ``privacy`` (history, erasure, export),
``projections``, ``jobs`` and ``operations`` (tokens, audit, keys, archive,
backup).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Final

from application.errors import StorageError
from entrypoints.cli import (
    alerts,
    catalog,
    exports,
    ingest,
    jobs,
    operations,
    outbox,
    privacy,
    projections,
    quality,
    reports,
    serve,
)
from entrypoints.cli.output import Handler, Subcommands
from entrypoints.error_tracking import report_outage, start_error_tracking
from entrypoints.logging import configure_logging
from entrypoints.settings import SettingsError, load_settings

__all__ = ["main"]

# Every command: how it adds its parser, and what runs it; in the order `addvalue --help` lists them.
COMMANDS: Final[dict[str, tuple[Callable[[Subcommands], None], Handler]]] = {
    "serve": (serve.add_serve, serve.serve),
    "demo": (ingest.add_demo, ingest.demo),
    "token": (operations.add_token, operations.token),
    "dashboard-link": (operations.add_dashboard_link, operations.dashboard_link),
    "history": (privacy.add_history, privacy.history),
    "erase": (privacy.add_erase, privacy.erase),
    "quarantine": (ingest.add_quarantine, ingest.quarantine),
    "projections": (projections.add_projections, projections.projections),
    "jobs": (jobs.add_jobs, jobs.jobs),
    "export": (exports.add_export, exports.export),
    "reports": (reports.add_reports, reports.reports),
    "project": (projections.add_project, projections.project),
    "users": (privacy.add_users, privacy.users),
    "worker": (serve.add_worker, serve.worker),
    "audit": (operations.add_audit, operations.audit),
    "keys": (operations.add_keys, operations.keys),
    "archive": (operations.add_archive, operations.archive),
    "backup": (operations.add_backup, operations.backup),
    "quality": (quality.add_quality, quality.quality),
    "alerts": (alerts.add_alerts, alerts.alerts),
}

# Commands that read no setting: they run before the settings are loaded, so they need no database,
# secret or environment, and write no development secret file (``catalog schema`` runs in CI and builds).
STANDALONE: Final[dict[str, tuple[Callable[[Subcommands], None], Callable[[argparse.Namespace], int]]]] = {
    "catalog": (catalog.add_catalog, catalog.catalog),
    "outbox": (outbox.add_outbox, outbox.outbox),  # the app's database only: ADDVALUE_OUTBOX_URLS at most
}


def main(argv: Sequence[str] | None = None) -> int:
    # Whatever the shell's umask: every file the service writes (databases and their -wal files, the
    # archive, backups, exports) holds personal data or secrets, so it is its owner's only.
    previous = os.umask(0o077)
    try:
        return _run(argv)
    finally:
        os.umask(previous)


def _run(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    # Before the settings, which may log (a generated development key, say).
    if args.command in STANDALONE:
        return STANDALONE[args.command][1](args)
    if args.command == "alerts" and args.action in alerts.FILE_ONLY:  # reads an alert file, nothing else
        return alerts.alerts_file(args)
    configure_logging(os.environ.get("ADDVALUE_LOG_LEVEL", "info"))
    try:
        settings = load_settings()
    except SettingsError as e:
        print(f"addvalue: configuration error: {e}", file=sys.stderr)
        return 2
    _, handler = COMMANDS[args.command]
    # An exception no command catches reaches the SDK's excepthook, and is sent before the process exits.
    start_error_tracking(settings.error_tracking, process=args.command)
    try:
        return handler(settings, args)
    except StorageError as e:
        # A database or file named by a setting cannot be used (unreachable, wrong master key, bad .mmdb).
        report_outage(command=args.command, error=str(e))
        print(f"addvalue: {e}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="addvalue", description="AddValue Analytics service")
    commands = parser.add_subparsers(dest="command", required=True)
    for add, _ in COMMANDS.values():
        add(commands)
    for add_standalone, _ in STANDALONE.values():
        add_standalone(commands)
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
