"""The batch jobs from the command line: ``jobs list``, ``jobs run``, ``jobs history`` and ``jobs status``."""

from __future__ import annotations

import argparse

from application.reporting.jobs import PeriodError, PeriodNotOver, UnknownJob
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.cli.output import Subcommands, fail, print_json
from entrypoints.settings import Settings

__all__ = ["add_jobs", "jobs"]


def add_jobs(commands: Subcommands) -> None:
    jobs = commands.add_parser("jobs", help="batch jobs: list them, run one for a period, show past runs")
    job_actions = jobs.add_subparsers(dest="action", required=True)
    job_actions.add_parser("list", help="each job, its schedule (cron, in its time_zone) and what it does")
    run = job_actions.add_parser(
        "run",
        help="run a job now for a period (default: the one its schedule would), or for each --period given, "
        "in that order; a period not yet over in the reporting time zone is refused with exit status 2",
    )
    run.add_argument("name")
    run.add_argument(
        "--date",
        "--period",
        dest="periods",
        action="append",
        help="the period: 2026-11-24T13 (hour), 2026-11-24 (day), 2026-W48 or a date in it (week), "
        "2026-11 or a date in it (month); repeat it to run several, one JSON line each",
    )
    job_actions.add_parser("history", help="every recorded run: period, status, rows, seconds")
    job_actions.add_parser(
        "status",
        help="per job: its last successful run (period, start), its next due time and the periods it owes "
        "(count, oldest)",
    )


def jobs(settings: Settings, args: argparse.Namespace) -> int:
    with bootstrap(settings) as container:
        try:
            if args.action == "list":
                for job in container.jobs.all():
                    print_json(
                        {
                            "name": job.name,
                            "schedule": job.schedule,
                            # The executive reports' cron is read in the reporting time zone, every other job's in UTC.
                            "time_zone": container.settings.reporting_timezone
                            if getattr(job, "local_schedule", False)
                            else "UTC",
                            "period": job.cadence,
                            "description": job.description,
                        }
                    )
                return 0
            if args.action == "status":
                status(container)
                return 0
            if args.action == "history":
                for report in container.jobs.history():
                    print_json(report)
                return 0
            failed = False
            for period in args.periods or [None]:
                report = container.jobs.run(args.name, period)
                print_json(report)
                failed |= report.status != "succeeded"
            return 1 if failed else 0
        except PeriodNotOver as e:
            return fail("addvalue jobs", f"{args.name} cannot run for {e.label} yet: {e}", 2)
        except (UnknownJob, PeriodError) as e:
            return fail("addvalue jobs", e, 2)


def status(container: Container) -> None:
    """One line per job: the latest successful run (null if none), when its schedule runs it next (UTC), and
    the periods it owes: missed while no serve or worker ran, or failed (a job that never ran owes nothing)."""
    now = container.clock.now()
    successes = container.jobs.last_successes()
    for job in container.jobs.all():
        last = successes.get(job.name)
        next_due = container.jobs.next_due(job.name, now)
        owed = container.jobs.owed(job.name, now)
        print_json(
            {
                "job": job.name,
                "last_success": None if last is None else {"period": last[0], "at": last[1].isoformat()},
                "next_due": next_due.isoformat(),
                "next_period": container.jobs.period_for(job.name, next_due),
                # Missed or failed periods, run oldest first by the next serve or worker (docs/metrics.md, 9).
                "owed": {"count": len(owed), "oldest": owed[0] if owed else None},
            }
        )
