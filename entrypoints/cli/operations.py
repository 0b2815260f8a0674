"""Operator commands: ``token``, ``audit``, ``keys``, ``archive`` and ``backup``."""

from __future__ import annotations

import argparse
import base64
import binascii
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import get_args

from adapters.eventstore.persistence import key_store_fingerprint
from adapters.retention.archive import default_archive_dir
from adapters.retention.backup import BackupError, create_backup, restore_backup
from application.api_access.access_log import ChainNotVerified, Checkpoint, verify_against
from application.key_rotation import RootRotation, rotate_root
from application.principals import Role
from application.retention.archive import ArchiveBusy
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.cli.output import Subcommands, fail, print_json
from entrypoints.cli.welcome import dashboard_sign_in_url
from entrypoints.settings import Settings

__all__ = [
    "add_archive",
    "add_audit",
    "add_backup",
    "add_keys",
    "add_token",
    "archive",
    "audit",
    "backup",
    "keys",
    "token",
]

# A development token that leaks should not outlive the day; a longer one must be asked for, up to 30 days.
DEFAULT_TOKEN_HOURS = 12.0
MAX_TOKEN_HOURS = 720


def add_token(commands: Subcommands) -> None:
    token = commands.add_parser("token", help="mint a development token from the configured secret")
    token.add_argument("--sub", required=True, help="the subject: the app's user id for role 'user'")
    token.add_argument("--role", default="user", choices=sorted(get_args(Role)))
    token.add_argument(
        "--hours",
        type=float,
        default=DEFAULT_TOKEN_HOURS,
        help=f"how long it is valid (default {DEFAULT_TOKEN_HOURS:g}); at most {MAX_TOKEN_HOURS} and no more than "
        "ADDVALUE_MAX_TOKEN_LIFETIME_DAYS, which the service enforces",
    )


def add_dashboard_link(commands: Subcommands) -> None:
    link = commands.add_parser(
        "dashboard-link", help="print a one-time sign-in link to the dashboards, valid 10 minutes (its last word)"
    )
    link.add_argument("--role", required=True, choices=sorted(get_args(Role)))
    link.add_argument(
        "--sub", default=None, help="the subject (default: dashboard-<role>); the app's user id for 'user'"
    )


def add_audit(commands: Subcommands) -> None:
    audit = commands.add_parser("audit", help="the API access log")
    audit_actions = audit.add_subparsers(dest="action", required=True)
    verify = audit_actions.add_parser(
        "verify",
        help="check the hash chain of the whole log and its signed head; exit 1 if a record was altered or removed."
        " Prints a checkpoint (RECORDS:HASH) to keep outside the database",
    )
    verify.add_argument(
        "--expect",
        metavar="RECORDS:HASH",
        help="a checkpoint an earlier verify printed: exit 1 unless the log still holds that record with that hash"
        " (catches records removed behind an old head put back)",
    )


def add_keys(commands: Subcommands) -> None:
    keys = commands.add_parser("keys", help="the master key and the root secret")
    key_actions = keys.add_subparsers(dest="action", required=True)
    key_actions.add_parser(
        "rotate-master",
        help="rewrap every data key and the root secret under the new master key given in ADDVALUE_NEW_MASTER_KEY "
        "(never on the command line), in one transaction; then give every process the new key and destroy the old "
        "one. A store whose root is still its first master key (made before issue 13) gets a new root first",
    )
    key_actions.add_parser(
        "rotate-root",
        help="with every other process stopped: verify the access log, make a new root secret, re-derive the user-id "
        "lookups and the erasure register, and re-chain the access log from an anchor record; exit 1 (nothing "
        "changed) if the access log does not verify",
    )


def add_archive(commands: Subcommands) -> None:
    archive = commands.add_parser("archive", help="the cold archive of raw events (docs/privacy.md, Retention)")
    archive_actions = archive.add_subparsers(dest="action", required=True)
    run = archive_actions.add_parser(
        "run",
        help="move closed sessions older than ADDVALUE_HOT_DAYS to the archive's Parquet files, and purge "
        "aggregated metrics older than two years (schedule daily)",
    )
    run.add_argument("--older-than-days", type=float, help="this run's limit instead of ADDVALUE_HOT_DAYS")


def add_backup(commands: Subcommands) -> None:
    backup = commands.add_parser("backup", help="back up or restore the event store and archive, without the keys")
    backup_actions = backup.add_subparsers(dest="action", required=True)
    create = backup_actions.add_parser("create", help="write a backup into a new folder")
    create.add_argument("path", type=Path)
    restore = backup_actions.add_parser("restore", help="restore a backup into an empty event store (service stopped)")
    restore.add_argument("path", type=Path)


def token(settings: Settings, args: argparse.Namespace) -> int:
    limit = min(MAX_TOKEN_HOURS, settings.max_token_lifetime_days * 24)
    if not 0 < args.hours <= limit:
        return fail("addvalue token", f"--hours must be above 0 and at most {limit:g}, got {args.hours:g}", 2)
    with bootstrap(settings) as container:
        print(container.tokens.mint(args.sub, args.role, valid_for=timedelta(hours=args.hours)))
    return 0


def dashboard_link(settings: Settings, args: argparse.Namespace) -> int:
    with bootstrap(settings) as container:
        print(f"Open within 10 minutes, once: {dashboard_sign_in_url(container, args.role, args.sub)}")
    return 0


def audit(settings: Settings, args: argparse.Namespace) -> int:
    assert args.action == "verify"  # the only action; argparse refuses others
    try:
        expected = None if args.expect is None else Checkpoint.parse(args.expect)
    except ValueError as e:
        return fail("addvalue audit verify --expect", e, 2)
    with bootstrap(settings) as container:
        log = container.access_log
        report = log.verify() if expected is None else verify_against(log, expected)
    print_json(report)
    if not report.ok:
        return fail("addvalue audit", f"the access log was altered: {report.problem}", 1)
    # On stderr, so stdout stays one JSON line; the database alone cannot show an old head put back.
    print(
        f"checkpoint {report.checkpoint}: keep it outside the database and check later with --expect", file=sys.stderr
    )
    return 0


def keys(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "rotate-root":
        return _rotate_root(settings)
    assert args.action == "rotate-master"  # argparse refuses other actions
    try:
        new_key = _new_master_key(os.environ.get("ADDVALUE_NEW_MASTER_KEY"))
    except ValueError as e:
        return fail("addvalue keys rotate-master", e, 2)
    if new_key == settings.master_key:
        return fail("addvalue keys rotate-master", "ADDVALUE_NEW_MASTER_KEY: the new master key is the current one", 2)
    with bootstrap(settings) as container:
        if container.keys.root_is_legacy:
            # The root is still this master key: rewrapped alone, the retired key would go on keying the
            # lookups and signing the access log. Move off it first.
            print(
                "the root secret is the current master key (a store made before issue 13): rotating it first",
                file=sys.stderr,
            )
            rooted = _root_rotation(container)
            if rooted is None:
                return 1
            print_json(rooted)
        report = container.keys.rotate_master(new_key)
    print_json(report)
    key_file = _development_key_file(settings)
    if key_file is not None:  # without ADDVALUE_MASTER_KEY the key came from this file: keep it usable
        temporary = key_file.with_suffix(".new")
        temporary.unlink(missing_ok=True)
        temporary.touch(mode=0o600)
        temporary.write_text(base64.b64encode(new_key).decode())
        temporary.replace(key_file)
    _print_next_steps(key_file)
    return 0


def _rotate_root(settings: Settings) -> int:
    with bootstrap(settings) as container:
        report = _root_rotation(container)
    if report is None:
        return 1
    print_json(report)
    print(
        f"root secret rotated; the access log goes on from anchor record {report.anchor_seq}. Next steps:\n"
        "  1. restart every process (serve, worker, scheduled commands): until then they cannot add people\n"
        f"  2. keep the new checkpoint {report.checkpoint} outside the database (`addvalue audit verify --expect`)\n"
        "  3. back up the key store again (docs/security.md, Key hierarchy)",
        file=sys.stderr,
    )
    return 0


def _root_rotation(container: Container) -> RootRotation | None:
    """``rotate_root`` on the container's stores; None once the refusal (a log that does not verify) is printed."""
    try:
        return rotate_root(container.keys, container.erasures, container.access_log, container.clock)
    except ChainNotVerified as e:
        fail("addvalue keys rotate-root", f"{e}. Nothing was changed: find out what altered the log first", 1)
        return None


def _print_next_steps(key_file: Path | None) -> None:
    first = (
        f"{key_file} now holds the new key (ADDVALUE_MASTER_KEY is not set); restart every process"
        if key_file is not None
        else "set ADDVALUE_MASTER_KEY to the value of ADDVALUE_NEW_MASTER_KEY on every process (serve, worker, "
        "scheduled commands) and restart them: until then they fail on keys not in their 30 s cache and "
        "cannot add people"
    )
    print(
        f"master key rotated. Next steps:\n  1. {first}\n"
        "  2. destroy the old master key wherever it is kept (secret store, deploy variables, shell history)\n"
        "  3. back up the key store again: once the old key is destroyed, every backup and WAL archive made before "
        "this rotation holds only keys wrapped by a destroyed master key (docs/privacy.md, Master key rotation)",
        file=sys.stderr,
    )


def _new_master_key(value: str | None) -> bytes:
    if not value:
        raise ValueError(
            "set ADDVALUE_NEW_MASTER_KEY to base64 of 32 new random bytes "
            '(python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"); '
            "it is read from the environment only, so it shows in no process list or shell history"
        )
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except binascii.Error:
        raise ValueError("ADDVALUE_NEW_MASTER_KEY: not valid base64") from None
    if len(key) != 32:
        raise ValueError(f"ADDVALUE_NEW_MASTER_KEY: must be base64 of 32 bytes, got {len(key)} bytes")
    return key


def _development_key_file(settings: Settings) -> Path | None:
    """``master.key`` beside the SQLite database when ADDVALUE_MASTER_KEY is unset (see entrypoints.settings)."""
    if "ADDVALUE_MASTER_KEY" in os.environ or settings.database.sqlite_path is None:
        return None
    return settings.database.sqlite_path.parent / "master.key"


def archive(settings: Settings, args: argparse.Namespace) -> int:
    assert args.action == "run"  # the only action; argparse refuses others
    if args.older_than_days is not None and args.older_than_days <= 0:
        return fail("addvalue archive run", "--older-than-days must be greater than 0", 2)
    hot_for = timedelta(days=args.older_than_days) if args.older_than_days is not None else None
    with bootstrap(settings) as container:
        try:
            report = container.archiving.run(hot_for=hot_for)
        except ArchiveBusy as e:
            return fail("addvalue archive run", e, 1)
    print_json(report)
    return 0


def backup(settings: Settings, args: argparse.Namespace) -> int:
    archive_dir = settings.archive_dir or default_archive_dir(settings.database)
    live = key_store_fingerprint(settings.database, settings.master_key)
    try:
        if args.action == "create":
            manifest = create_backup(settings.database, archive_dir, args.path, key_store=live)
        else:
            manifest = restore_backup(settings.database, archive_dir, args.path, key_store=live)
    except BackupError as e:
        return fail(f"addvalue backup {args.action}", e, 1)
    summary = {"action": args.action, "path": str(args.path), "files": sorted(manifest.files), "keys": False}
    print_json({**summary, "key_store": manifest.key_store})
    expected = manifest.key_store or "(not recorded: a backup made before issue 13)"
    print(
        "the key store and the master key are not in this backup: events in it are readable only with key "
        f"store {expected}. Back the key store up on its own, with short retention (docs/privacy.md, Retention, "
        "archive and backups)",
        file=sys.stderr,
    )
    return 0
