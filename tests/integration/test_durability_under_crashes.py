"""The durability promise, in CI: PostgreSQL killed part way through ingest loses no acknowledged event.

bench/fault_ingest.py is the tool: a private cluster (never the shared one the
rest of the suite uses), the real ``addvalue serve``, concurrent senders that
resend on 503, and a killer that SIGKILLs the postmaster (alone, or with every
backend) and restarts it. Its checks read the ledger and the session streams
back, decrypting every event with the run's master key: every acknowledged id
is in the ledger and decrypts, none is stored twice, every answer was 200 or
503. Here it runs short (about 30 s) with at least two kills.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.pg_cluster import find_bin_dir

ROOT = Path(__file__).resolve().parents[2]
# About 14 s of load with a kill every 3-4 s: at least two crashes, well under a minute in all.
SHORT_RUN = ["--seconds", "14", "--concurrency", "4", "--batch", "50", "--users", "100", "--min-kills", "2"]
SHORT_RUN += ["--kill-min", "3", "--kill-max", "4", "--down-min", "0.5", "--down-max", "1", "--retry-seconds", "60"]

pytestmark = pytest.mark.skipif(
    find_bin_dir() is None,
    reason="needs the PostgreSQL server binaries (initdb, postgres) to run a private cluster; "
    "install postgresql or set ADDVALUE_PG_BINDIR",
)


def test_every_event_acknowledged_before_a_crash_is_stored_once_and_decrypts() -> None:
    run = subprocess.run(
        [sys.executable, "bench/fault_ingest.py", *SHORT_RUN],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
    )
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    assert "OK: 0 acknowledged events lost" in report, report
    kills = int(re.search(r"^kills: (\d+)", report, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert kills >= 2, report
    figures = dict(
        re.findall(
            r"^(acknowledged events|tracked events \(decrypted\)|lost|stored twice): (\d+)$", report, re.MULTILINE
        )
    )
    assert int(figures["acknowledged events"]) > 0, report
    assert figures["tracked events (decrypted)"] == figures["acknowledged events"], report
    assert (figures["lost"], figures["stored twice"]) == ("0", "0"), report
