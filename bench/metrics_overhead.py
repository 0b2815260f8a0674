"""The cost of the /metrics instrumentation on the ingest path: server CPU per event, metrics on and off.

Runs bench/ingest.py --rounds times with the measurements on and as many with them turned into no-ops
(--no-metrics), alternating so that a change in the machine's load falls on both; reports each run's
server CPU per accepted event and events/s, the median of each mode, and the difference. CPU time, not
wall time, so the figure holds on a machine others share; the 1-minute load average is printed too.
Arguments after ``--`` go to bench/ingest.py (default: --seconds 20 --no-projections).

    .venv/bin/python bench/metrics_overhead.py --rounds 3 -- --seconds 30 --no-projections
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_CPU = re.compile(r"CPU per accepted event, µs: server ([\d.]+)")
_RATE = re.compile(r"ingest: ([\d,]+) events/s")


def _run(ingest_args: list[str], *, metrics: bool) -> tuple[float, float]:
    command = [sys.executable, str(ROOT / "bench" / "ingest.py"), *ingest_args, *([] if metrics else ["--no-metrics"])]
    out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    cpu, rate = _CPU.search(out), _RATE.search(out)
    if cpu is None or rate is None:
        raise SystemExit(f"bench/ingest.py printed no figures:\n{out}")
    return float(cpu[1]), float(rate[1].replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("ingest_args", nargs="*", help="after --: bench/ingest.py's arguments")
    args = parser.parse_args()
    ingest_args = args.ingest_args or ["--seconds", "20", "--no-projections"]
    figures: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    print(f"1-min load average at the start: {os.getloadavg()[0]:.2f}")
    for round_ in range(args.rounds):
        for metrics in (round_ % 2 == 0, round_ % 2 != 0):  # on first, then off first: drift falls on both
            cpu, rate = _run(ingest_args, metrics=metrics)
            figures[metrics].append((cpu, rate))
            mode = "on " if metrics else "off"
            print(f"round {round_ + 1}, metrics {mode}: {cpu:.2f} µs CPU/event, {rate:,.0f} events/s")
    on = statistics.median(c for c, _ in figures[True])
    off = statistics.median(c for c, _ in figures[False])
    rate_on = statistics.median(r for _, r in figures[True])
    rate_off = statistics.median(r for _, r in figures[False])
    print(f"median server CPU per event: on {on:.2f} µs, off {off:.2f} µs: +{on - off:.2f} µs ({on / off - 1:+.1%})")
    print(f"median events/s: on {rate_on:,.0f}, off {rate_off:,.0f} ({rate_on / rate_off - 1:+.1%})")
    print(f"1-min load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
