"""``addvalue outbox install|sql|uninstall|status``: the transactional outbox in the app's own database.

These commands read no setting but ``ADDVALUE_OUTBOX_URLS`` (the default
``--database-url``): they touch only the app's database, never the service's
store, keys or secrets.
"""

from __future__ import annotations

import argparse
import os
import sys

import msgspec

from adapters.sources.outbox_postgres import OutboxUnavailable, PostgresOutbox, install, outbox_name, uninstall
from adapters.sources.outbox_sql import INSTALL_SQL, TRIGGER_EXAMPLES
from entrypoints.cli.output import Subcommands, fail, print_json
from entrypoints.settings_sources import outbox_urls

__all__ = ["add_outbox", "outbox"]

_URL_HELP = "the app database's libpq URL, e.g. postgresql://postgres@db.example.org:5432/postgres "


def add_outbox(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "outbox",
        help="the transactional outbox in the app's own PostgreSQL database: install it, print its SQL, see its rows",
    )
    actions = parser.add_subparsers(dest="action", required=True)
    for name, help_text in (
        ("install", "create the schema addvalue_outbox (table events, function emit(jsonb)); harmless to repeat"),
        ("uninstall", "drop the schema addvalue_outbox, refused while a function of the app calls emit()"),
        ("status", "one JSON line per outbox: pending, delivered and rejected rows, age of the oldest pending one"),
    ):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("--database-url", help=_URL_HELP + "(default: each URL of ADDVALUE_OUTBOX_URLS)")
        if name == "uninstall":
            action.add_argument("--force", action="store_true", help="drop it even though functions still call emit()")
    actions.add_parser("sql", help="print the SQL install runs, and example triggers (commented out), for migrations")


def outbox(args: argparse.Namespace) -> int:
    where = f"addvalue outbox {args.action}"
    if args.action == "sql":
        sys.stdout.write(INSTALL_SQL + "\n" + TRIGGER_EXAMPLES)
        return 0
    try:
        configured = outbox_urls(os.environ.get("ADDVALUE_OUTBOX_URLS", ""))
        urls = [args.database_url] if args.database_url else list(configured)
        names = [outbox_name(url) for url in urls]
    except ValueError as e:
        return fail(where, e, 2)
    if not urls:
        return fail(where, "give --database-url, or set ADDVALUE_OUTBOX_URLS", 2)
    try:
        return _run(args, urls, names)
    except OutboxUnavailable as e:
        return fail(where, e, 1)


def _run(args: argparse.Namespace, urls: list[str], names: list[str]) -> int:
    status = 0
    for url, name in zip(urls, names, strict=True):
        if args.action == "install":
            install(url)
            print(f"{name}: addvalue_outbox installed")
        elif args.action == "uninstall":
            callers = uninstall(url, force=args.force)
            if callers:
                status = fail(
                    "addvalue outbox uninstall",
                    f"{name}: these functions call addvalue_outbox.emit and would fail once it is gone: "
                    f"{', '.join(callers)}; drop their triggers first, or give --force",
                    1,
                )
            else:
                print(f"{name}: addvalue_outbox removed")
        else:
            print_json(msgspec.structs.asdict(PostgresOutbox(url).status()))
    return status
