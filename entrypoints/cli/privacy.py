"""One person's data from the command line: ``history``, ``erase`` and ``users`` (export, erase)."""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import msgspec

from application.errors import NotFound
from application.privacy.erasure import ErasureNotDone, UnknownUser
from entrypoints.bootstrap import bootstrap
from entrypoints.cli.output import Subcommands, fail, print_json
from entrypoints.settings import Settings

__all__ = ["add_erase", "add_history", "add_users", "erase", "history", "users"]


def add_history(commands: Subcommands) -> None:
    history = commands.add_parser("history", help="replay one person's history (decrypted, or redacted after erasure)")
    who = history.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", type=uuid.UUID, help="the app's user id")
    who.add_argument("--subject", type=uuid.UUID, help="the internal subject id (as printed by 'erase')")


def add_erase(commands: Subcommands) -> None:
    erase = commands.add_parser("erase", help="crypto-shred one person's data")
    erase.add_argument("--user", type=uuid.UUID, required=True)
    erase.add_argument("--requested-by", default="operator")


def add_users(commands: Subcommands) -> None:
    users = commands.add_parser("users", help="one person's data: export it, or erase them")
    user_actions = users.add_subparsers(dest="action", required=True)
    export = user_actions.add_parser("export", help="everything held about a user, as JSON (or a zip with CSVs)")
    export.add_argument("user", type=uuid.UUID, help="the app's user id")
    export.add_argument("--out", type=Path, help="write here instead of stdout; a .zip name gives the zip bundle")
    erase = user_actions.add_parser("erase", help="erase a user: out of use at once, key destroyed after the grace")
    erase.add_argument("user", type=uuid.UUID, help="the app's user id")
    erase.add_argument("--now", action="store_true", help="destroy the key now instead of after the grace period")
    erase.add_argument("--requested-by", default="operator")


def history(settings: Settings, args: argparse.Namespace) -> int:
    with bootstrap(settings) as container:
        subject = args.subject or container.keys.subject_for(args.user, create=False)
        if subject is None:
            print(f"no data held for user {args.user} (never seen, or erased: use --subject)", file=sys.stderr)
            return 1
        count = 0
        for entry in container.history.of_subject(subject):
            sys.stdout.buffer.write(msgspec.json.encode(entry) + b"\n")
            count += 1
        print(f"{count} events of subject {subject}", file=sys.stderr)
        return 0


def erase(settings: Settings, args: argparse.Namespace) -> int:
    with bootstrap(settings) as container:
        try:
            receipt = container.erasure.erase(args.user, requested_by=args.requested_by)
        except (UnknownUser, ErasureNotDone) as e:
            return fail("addvalue erase", e, 1)
    print(f"erased: subject {receipt.subject_id}; key destroyed: {receipt.key_destroyed}")
    return 0


def users(settings: Settings, args: argparse.Namespace) -> int:
    with bootstrap(settings) as container:
        try:
            if args.action == "erase":
                grace = timedelta(0) if args.now else None
                print_json(container.erasure.request(args.user, requested_by=args.requested_by, grace=grace))
                return 0
            bundle = container.export.bundle(args.user)
        except (UnknownUser, ErasureNotDone, NotFound) as e:
            return fail(f"addvalue users {args.action}", e, 1)
        if args.out is None:
            print_json(bundle)
        elif args.out.suffix == ".zip":
            args.out.write_bytes(container.export.to_zip(bundle))
        else:
            args.out.write_bytes(msgspec.json.format(msgspec.json.encode(bundle)))
        return 0
