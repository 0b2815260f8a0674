"""The ``addvalue`` command line: serve, demo data, tokens, history and erasure."""

from __future__ import annotations

import argparse
import base64
import binascii
import os
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, get_args

import msgspec
import structlog

from adapters.retention.archive import default_archive_dir
from adapters.retention.backup import BackupError, create_backup, restore_backup
from application.errors import NotFound, StorageError
from application.ingest.quarantine_book import QuarantineNotFound
from application.principals import Principal, Role
from application.privacy.erasure import UnknownUser
from application.read_models.projections import PagedProjection, catch_up_together
from application.reporting.jobs import PeriodError, UnknownJob
from application.retention.archive import ArchiveBusy
from domain.errors import SubjectErased
from domain.periods import days_of, parse_period
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.logging import configure_logging
from entrypoints.runtime import as_background_work, started, tune_for_serving
from entrypoints.settings import Settings, SettingsError, load_settings

__all__ = ["main"]

log = structlog.get_logger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Before the settings, which may log (a generated development key, say).
    configure_logging(os.environ.get("ADDVALUE_LOG_LEVEL", "info"))
    try:
        settings = load_settings()
    except SettingsError as e:
        print(f"addvalue: configuration error: {e}", file=sys.stderr)
        return 2
    handler = {
        "serve": _serve,
        "demo": _demo,
        "token": _token,
        "history": _history,
        "erase": _erase,
        "project": _project,
        "quarantine": _quarantine,
        "projections": _projections,
        "jobs": _jobs,
        "worker": _worker,
        "users": _users,
        "audit": _audit,
        "keys": _keys,
        "archive": _archive,
        "backup": _backup,
    }[args.command]
    try:
        return handler(settings, args)
    except StorageError as e:
        # A database or file named by a setting cannot be used (unreachable, wrong master key, bad .mmdb).
        print(f"addvalue: {e}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="addvalue", description="AddValue Analytics service")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--print-token", action="store_true", help="print a development service token at start")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="HTTP worker processes sharing the port, each with its own group commit (default 1; "
        "on a 2-core machine, 2 doubles what ingestion can use)",
    )
    demo = commands.add_parser("demo", help="load synthetic activity through the real ingestion path")
    demo.add_argument("--users", type=int, default=50)
    demo.add_argument("--days", type=int, default=14, help="how many days back (at most 30)")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--if-empty", action="store_true", help="do nothing if the store already holds events")
    token = commands.add_parser("token", help="mint a development token from the configured secret")
    token.add_argument("--sub", required=True, help="the subject: the app's user id for role 'user'")
    token.add_argument("--role", default="user", choices=sorted(get_args(Role)))
    token.add_argument("--hours", type=float, default=12.0)
    history = commands.add_parser("history", help="replay one person's history (decrypted, or redacted after erasure)")
    who = history.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", type=uuid.UUID, help="the app's user id")
    who.add_argument("--subject", type=uuid.UUID, help="the internal subject id (as printed by 'erase')")
    erase = commands.add_parser("erase", help="crypto-shred one person's data")
    erase.add_argument("--user", type=uuid.UUID, required=True)
    erase.add_argument("--requested-by", default="operator")
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
    projections = commands.add_parser("projections", help="the read models: status, catch up or rebuild one or all")
    views = projections.add_subparsers(dest="action", required=True)
    views.add_parser("status", help="each projection's position and how far behind the event log it is")
    for action in ("catch-up", "rebuild"):
        chosen = views.add_parser(action, help=f"{action} a projection by name, or --all")
        pick = chosen.add_mutually_exclusive_group(required=True)
        pick.add_argument("name", nargs="?")
        pick.add_argument("--all", action="store_true")
    jobs = commands.add_parser("jobs", help="batch jobs: list them, run one for a period, show past runs")
    job_actions = jobs.add_subparsers(dest="action", required=True)
    job_actions.add_parser("list", help="each job, its schedule (cron, UTC) and what it does")
    run = job_actions.add_parser("run", help="run a job now for a period (default: the one its schedule would)")
    run.add_argument("name")
    run.add_argument(
        "--date",
        "--period",
        dest="period",
        help="the period: 2026-11-24T13 (hour), 2026-11-24 (day), 2026-W48 or a date in it (week), "
        "2026-11 or a date in it (month)",
    )
    job_actions.add_parser("history", help="every recorded run: period, status, rows, seconds")
    project = commands.add_parser("project", help="bring the read models up to date, or rebuild them")
    project.add_argument("--rebuild", action="store_true", help="clear and replay the whole history")
    project.add_argument(
        "--follow",
        action="store_true",
        help="keep catching up (and rebuild on schedule) until stopped: the projection worker process",
    )
    _add_operator_commands(commands)
    return parser


def _add_operator_commands(commands: Any) -> None:
    users = commands.add_parser("users", help="one person's data: export it, or erase them")
    user_actions = users.add_subparsers(dest="action", required=True)
    export = user_actions.add_parser("export", help="everything held about a user, as JSON (or a zip with CSVs)")
    export.add_argument("user", type=uuid.UUID, help="the app's user id")
    export.add_argument("--out", type=Path, help="write here instead of stdout; a .zip name gives the zip bundle")
    erase = user_actions.add_parser("erase", help="erase a user: out of use at once, key destroyed after the grace")
    erase.add_argument("user", type=uuid.UUID, help="the app's user id")
    erase.add_argument("--now", action="store_true", help="destroy the key now instead of after the grace period")
    erase.add_argument("--requested-by", default="operator")
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
    audit = commands.add_parser("audit", help="the API access log")
    audit_actions = audit.add_subparsers(dest="action", required=True)
    audit_actions.add_parser("verify", help="check the hash chain of the whole log; exit 1 if a record was altered")
    keys = commands.add_parser("keys", help="the master key")
    key_actions = keys.add_subparsers(dest="action", required=True)
    key_actions.add_parser(
        "rotate-master",
        help="rewrap every data key under the new master key given in ADDVALUE_NEW_MASTER_KEY (never on the "
        "command line), in one transaction; then give every process the new key and destroy the old one",
    )
    _add_retention_commands(commands)


def _add_retention_commands(commands: Any) -> None:
    archive = commands.add_parser("archive", help="the cold archive of raw events (docs/privacy.md, Retention)")
    archive_actions = archive.add_subparsers(dest="action", required=True)
    run = archive_actions.add_parser(
        "run",
        help="move closed sessions older than ADDVALUE_HOT_DAYS to the archive's Parquet files, and purge "
        "aggregated metrics older than two years (schedule daily)",
    )
    run.add_argument("--older-than-days", type=float, help="this run's limit instead of ADDVALUE_HOT_DAYS")
    backup = commands.add_parser("backup", help="back up or restore the event store and archive, without the keys")
    backup_actions = backup.add_subparsers(dest="action", required=True)
    create = backup_actions.add_parser("create", help="write a backup into a new folder")
    create.add_argument("path", type=Path)
    restore = backup_actions.add_parser("restore", help="restore a backup into an empty event store (service stopped)")
    restore.add_argument("path", type=Path)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from entrypoints.http.app import create_app

    if args.workers < 1:
        print("addvalue serve: --workers must be at least 1", file=sys.stderr)
        return 2
    tune_for_serving()
    container = bootstrap(settings)  # also creates the tables, once, before any worker starts
    started()
    url = f"http://{settings.host}:{settings.port}"
    if args.print_token:
        token = container.tokens.mint("demo-service", "service")
        print(f"\nAddValue Analytics is starting at {url}\n")
        print(f"A service token, valid 12 hours:\n  export TOKEN={token}\n")
        print(f"Try:\n  curl {url}/ready")
        example = _write_example_batch(settings, container)
        print(f'  curl -H "Authorization: Bearer $TOKEN" --data-binary @{example} {url}/v1/events\n')
    if args.workers > 1:
        # Each worker process builds its own container from the same environment
        # (entrypoints.http.app.app_from_environment); writes of different workers are
        # kept apart by the event store's lock and keys, as for any two processes.
        container.close()
        uvicorn.run(
            "entrypoints.http.app:app_from_environment",
            factory=True,
            workers=args.workers,
            host=settings.host,
            port=settings.port,
            log_level="warning",
        )
        return 0
    try:
        uvicorn.run(create_app(container), host=settings.host, port=settings.port, log_level="warning")
    finally:
        container.close()
    return 0


def _write_example_batch(settings: Settings, container: Container) -> Path:
    """A fresh two-event batch (consent, then a Wave joined) to try the API with."""
    from entrypoints.demo import example_batch

    folder = settings.database.sqlite_path.parent if settings.database.sqlite_path else Path.cwd()
    path = folder / "example-batch.json"
    path.write_bytes(example_batch(container.clock.now()))
    return path


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from entrypoints.demo import demo_batches

    if not 1 <= args.days <= 30:
        print("addvalue demo: --days must be between 1 and 30 (older events are rejected)", file=sys.stderr)
        return 2
    container = bootstrap(settings)
    try:
        if args.if_empty and container.store.recorder.max_notification_id():
            print("demo data already loaded; skipping (drop --if-empty to add more)")
            return 0
        batches = list(demo_batches(users=args.users, days=args.days, now=container.clock.now(), seed=args.seed))
        principal = Principal(subject="demo", role="service")
        totals = {"accepted": 0, "rejected": 0, "not_collected": 0, "duplicates": 0}
        with Progress() as progress:
            task = progress.add_task(f"{args.users} people, {args.days} days", total=len(batches))
            for batch in batches:
                report = container.ingestion.ingest(batch, sent_at=None, principal=principal)
                totals["accepted"] += report.accepted
                totals["rejected"] += len(report.rejected)
                totals["not_collected"] += report.not_collected
                totals["duplicates"] += report.duplicates
                progress.advance(task)
        print(", ".join(f"{k} {v}" for k, v in totals.items()))
        _close_demo_days(container, args.days)
        return 0 if totals["rejected"] == 0 else 1
    finally:
        container.close()


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


def _token(settings: Settings, args: argparse.Namespace) -> int:
    container = bootstrap(settings)
    try:
        print(container.tokens.mint(args.sub, args.role, valid_for=timedelta(hours=args.hours)))
    finally:
        container.close()
    return 0


def _history(settings: Settings, args: argparse.Namespace) -> int:
    container = bootstrap(settings)
    try:
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
    finally:
        container.close()


def _erase(settings: Settings, args: argparse.Namespace) -> int:
    container = bootstrap(settings)
    try:
        receipt = container.erasure.erase(args.user, requested_by=args.requested_by)
    except UnknownUser as e:
        print(f"addvalue erase: {e}", file=sys.stderr)
        return 1
    finally:
        container.close()
    print(f"erased: subject {receipt.subject_id}; key destroyed: {receipt.key_destroyed}")
    return 0


def _quarantine(settings: Settings, args: argparse.Namespace) -> int:
    container = bootstrap(settings)
    book = container.quarantine
    try:
        if args.action == "list":
            for entry in book.entries(only_open=not args.all):
                _print_json(entry)
            return 0
        if args.action == "show":
            _print_json(book.entry(args.id))
            raw = book.payload(args.id)
            print(raw.decode(errors="replace") if raw is not None else "(the bytes were not kept: no consent to)")
            return 0
        targets = [args.id] if args.id else [e.id for e in book.entries(only_open=True) if e.has_payload]
        failed = 0
        for target in targets:
            report = book.replay(target)
            _print_json({"id": target, **msgspec.structs.asdict(report)})
            failed += len(report.rejected)
        print(f"replayed {len(targets)}, still rejected {failed}", file=sys.stderr)
        return 0 if failed == 0 else 1
    except (QuarantineNotFound, SubjectErased) as e:
        print(f"addvalue quarantine: {e}", file=sys.stderr)
        return 1
    finally:
        container.close()


def _print_json(value: object) -> None:
    sys.stdout.buffer.write(msgspec.json.encode(value) + b"\n")
    sys.stdout.flush()


def _users(settings: Settings, args: argparse.Namespace) -> int:
    container = bootstrap(settings)
    try:
        if args.action == "erase":
            grace = timedelta(0) if args.now else None
            receipt = container.erasure.request(args.user, requested_by=args.requested_by, grace=grace)
            _print_json(receipt)
            return 0
        bundle = container.export.bundle(args.user)
    except (UnknownUser, NotFound) as e:
        print(f"addvalue users {args.action}: {e}", file=sys.stderr)
        return 1
    finally:
        container.close()
    if args.out is None:
        _print_json(bundle)
    elif args.out.suffix == ".zip":
        args.out.write_bytes(container.export.to_zip(bundle))
    else:
        args.out.write_bytes(msgspec.json.format(msgspec.json.encode(bundle)))
    return 0


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    tune_for_serving()
    container = bootstrap(settings)
    started()
    names = [n.strip() for n in args.projections.split(",") if n.strip()]
    unknown = sorted(set(names) - set(container.projections))
    if unknown:
        container.close()
        print(f"addvalue worker: unknown projection {unknown}; known: {sorted(container.projections)}", file=sys.stderr)
        return 2
    return _follow_projections(container, projections=names or None, with_jobs=not args.no_jobs)


def _audit(settings: Settings, args: argparse.Namespace) -> int:
    assert args.action == "verify"  # the only action; argparse refuses others
    container = bootstrap(settings)
    try:
        report = container.access_log.verify()
    finally:
        container.close()
    _print_json(report)
    if not report.ok:
        print(f"addvalue audit: the access log was altered: {report.problem}", file=sys.stderr)
        return 1
    return 0


def _keys(settings: Settings, args: argparse.Namespace) -> int:
    assert args.action == "rotate-master"  # the only action; argparse refuses others
    try:
        new_key = _new_master_key(os.environ.get("ADDVALUE_NEW_MASTER_KEY"))
    except ValueError as e:
        print(f"addvalue keys rotate-master: {e}", file=sys.stderr)
        return 2
    container = bootstrap(settings)
    try:
        report = container.keys.rotate_master(new_key)
    except ValueError as e:  # the new key is the current one
        print(f"addvalue keys rotate-master: ADDVALUE_NEW_MASTER_KEY: {e}", file=sys.stderr)
        return 2
    finally:
        container.close()
    _print_json(report)
    key_file = _development_key_file(settings)
    if key_file is not None:  # without ADDVALUE_MASTER_KEY the key came from this file: keep it usable
        temporary = key_file.with_suffix(".new")
        temporary.unlink(missing_ok=True)
        temporary.touch(mode=0o600)
        temporary.write_text(base64.b64encode(new_key).decode())
        temporary.replace(key_file)
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
    return 0


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


def _follow_projections(
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
        container.close()
    return 0


def _jobs(settings: Settings, args: argparse.Namespace) -> int:
    container = bootstrap(settings)
    try:
        if args.action == "list":
            for job in container.jobs.all():
                _print_json(
                    {"name": job.name, "schedule": job.schedule, "period": job.cadence, "description": job.description}
                )
            return 0
        if args.action == "history":
            for report in container.jobs.history():
                _print_json(report)
            return 0
        report = container.jobs.run(args.name, args.period)
        _print_json(report)
        return 0 if report.status == "succeeded" else 1
    except (UnknownJob, PeriodError) as e:
        print(f"addvalue jobs: {e}", file=sys.stderr)
        return 2
    finally:
        container.close()


def _project(settings: Settings, args: argparse.Namespace) -> int:
    tune_for_serving()
    container = bootstrap(settings)
    started()
    if args.follow:
        return _follow_projections(container)
    try:
        if busy := _held_elsewhere(container, list(container.projections)):
            return busy
        for projection in container.projections.values():
            _run_projection(projection, rebuild=args.rebuild)
        return 0
    finally:
        container.close()


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


def _projections(settings: Settings, args: argparse.Namespace) -> int:
    container = bootstrap(settings)
    try:
        known = container.projections
        if args.action == "status":
            target = container.store.recorder.max_notification_id() or 0
            for name, projection in known.items():
                position = projection.position()
                _print_json({"name": name, "position": position, "behind": target - position})
            return 0
        names = list(known) if args.all else [args.name]
        unknown = [n for n in names if n not in known]
        if unknown or not names:
            print(
                f"addvalue projections: unknown projection {unknown or names}; known: {sorted(known)}", file=sys.stderr
            )
            return 2
        if busy := _held_elsewhere(container, names):
            return busy
        if len(names) > 1:
            started = time.monotonic()
            result = catch_up_together(container.store, [known[n] for n in names], rebuild=args.action == "rebuild")
            elapsed = max(time.monotonic() - started, 1e-9)
            print(
                f"{', '.join(names)}: {result.processed} events read once for all, "
                f"{result.redacted_skipped} redacted skipped, position {result.position}, "
                f"{result.processed / elapsed:,.0f} events/s"
            )
            return 0
        for name in names:
            _run_projection(known[name], rebuild=args.action == "rebuild")
        return 0
    finally:
        container.close()


def _run_projection(projection: PagedProjection, *, rebuild: bool) -> None:
    """One catch-up or rebuild with a progress bar, then what it did and how fast."""
    from rich.progress import Progress

    started = time.monotonic()
    with Progress() as progress:
        task = progress.add_task(f"{projection.name} " + ("rebuild" if rebuild else "catch-up"), total=None)

        def show(position: int, target: int) -> None:
            progress.update(task, completed=position, total=target)

        result = (projection.rebuild if rebuild else projection.catch_up)(show)
    elapsed = max(time.monotonic() - started, 1e-9)
    print(
        f"{projection.name}: {result.processed} events read, {result.redacted_skipped} redacted skipped, "
        f"position {result.position}, {result.processed / elapsed:,.0f} events/s"
    )


def _archive(settings: Settings, args: argparse.Namespace) -> int:
    assert args.action == "run"  # the only action; argparse refuses others
    if args.older_than_days is not None and args.older_than_days <= 0:
        print("addvalue archive run: --older-than-days must be greater than 0", file=sys.stderr)
        return 2
    container = bootstrap(settings)
    try:
        report = container.archiving.run(
            hot_for=timedelta(days=args.older_than_days) if args.older_than_days is not None else None
        )
    except ArchiveBusy as e:
        print(f"addvalue archive run: {e}", file=sys.stderr)
        return 1
    finally:
        container.close()
    _print_json(report)
    return 0


def _backup(settings: Settings, args: argparse.Namespace) -> int:
    archive_dir = settings.archive_dir or default_archive_dir(settings.database)
    try:
        if args.action == "create":
            manifest = create_backup(settings.database, archive_dir, args.path)
        else:
            manifest = restore_backup(settings.database, archive_dir, args.path)
    except BackupError as e:
        print(f"addvalue backup {args.action}: {e}", file=sys.stderr)
        return 1
    _print_json({"action": args.action, "path": str(args.path), "files": sorted(manifest.files), "keys": False})
    print(
        "the key store and the master key are not in this backup: events in it are readable only with the live "
        "key store. Back the key store up on its own, with short retention (docs/privacy.md, Retention, archive "
        "and backups)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
