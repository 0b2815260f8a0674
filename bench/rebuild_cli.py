"""`addvalue projections rebuild --all` timed from outside, as an operator runs it: process start included.

bench/rebuild.py times the replay inside one process, on a history it loads
through the ingestion use case. This runs the console script itself, in a
process of its own, on a schema kept by ``bench/ingest.py --schema NAME`` (a
history written over HTTP by ``addvalue serve``), with the settings that run
gave serve: the database, the schema and the schema's master key. It reports,
for each run, the wall time, the process's CPU and peak memory (``wait4``), and
catalog events per second of wall time (the command's own count of catalog
events over the whole process's life).

    .venv/bin/python bench/ingest.py --mixed --users 4000 --batch 1000 --workers 2 --concurrency 16 \\
        --seconds 30 --no-projections --schema rb_outside
    .venv/bin/python bench/rebuild_cli.py --schema rb_outside --repeat 2

The schema is kept: drop it (and ``<schema>_keys``) when done.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import stored_events  # noqa: E402
from bench.options import benchmark_parser, kept_schema_master_key  # noqa: E402

# The command's last line for the one pass (entrypoints/cli/projections.py).
_SUMMARY = re.compile(
    r"^(?P<names>[\w, ]+): (?P<read>\d+) events read of (?P<stored>\d+) stored, \d+ redacted skipped, "
    r"position \d+, (?P<catalog>\d+) catalog events, [\d,]+ stored events/s, (?P<rate>[\d,]+) catalog events/s",
    re.MULTILINE,
)


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--schema", required=True, help="a schema kept by bench/ingest.py --schema")
    parser.add_argument("--repeat", type=int, default=1, help="run the rebuild this many times")
    args = parser.parse_args()
    if not stored_events(args.database_url, args.schema):  # the command would make the schema, and rebuild nothing
        sys.exit(f"schema {args.schema} holds no events: fill it first with bench/ingest.py --schema {args.schema}")
    env = {
        **os.environ,
        "ADDVALUE_DATABASE_URL": args.database_url,
        "ADDVALUE_DATABASE_SCHEMA": args.schema,
        "ADDVALUE_MASTER_KEY": base64.b64encode(kept_schema_master_key(args.schema)).decode(),
        "ADDVALUE_JWT_SECRET": "bench-rebuild-" + "z" * 40,  # required by the settings; a rebuild checks no token
        "ADDVALUE_LOG_LEVEL": "warning",
        # This tree's code, whichever venv runs it (a worktree of another commit shares the main one's venv,
        # whose editable install points at the main tree).
        "PYTHONPATH": str(ROOT),
    }
    command = [str(Path(sys.executable).parent / "addvalue"), "projections", "rebuild", "--all"]
    print(f"machine: {os.uname().machine}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    for run in range(1, args.repeat + 1):
        begun = time.monotonic()
        with (
            tempfile.TemporaryFile() as err,
            subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=err) as process,
        ):
            assert process.stdout is not None
            out = process.stdout.read().decode()
            _, status, usage = os.wait4(process.pid, 0)  # this child's own CPU and peak memory
            wall = time.monotonic() - begun
            process.returncode = code = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait
            if code:
                err.seek(0)
                sys.exit(f"run {run}: addvalue exited {code}:\n{err.read().decode()[-2000:]}")
        summary = _SUMMARY.search(out.replace("\r", "\n"))
        if summary is None:
            sys.exit(f"run {run}: no summary line in the command's output:\n{out[-2000:]}")
        catalog, stored = int(summary["catalog"]), int(summary["stored"])
        print(
            f"run {run}: {stored:,} stored events, {catalog:,} catalog events; wall {wall:.1f} s (process start"
            f" included): {catalog / wall:,.0f} catalog events/s, {stored / wall:,.0f} stored events/s; the"
            f" command's own rate {summary['rate']} catalog events/s; CPU {usage.ru_utime + usage.ru_stime:.1f} s,"
            f" peak RSS {usage.ru_maxrss:,} kB"
        )


if __name__ == "__main__":
    main()
