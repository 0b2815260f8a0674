"""Speed of the dashboards' pages: time per page, page weight, time to the first chart drawn.

Starts ``addvalue serve`` (one worker) on SQLite with ``addvalue demo --users N --days D`` in a temporary
folder, or, with ``--schema``, on PostgreSQL over the data ``bench/api.py`` generated there (10,000 people
x 90 days by default; its key, projections not run), signs in as an admin with ``addvalue dashboard-link``,
then:

- per page, ``--requests`` GETs one after the other over keep-alive HTTP/1.1 on loopback: p50 and p95 of
  the time from sending to the last byte (the server's work plus a loopback round trip), and the server's
  CPU time per request (its process and children, from /proc: what a busy machine does not inflate);
- the page weight: the gzip size of the HTML and of every file it loads (our script and stylesheet, uPlot);
- in headless Chromium (tests/e2e/browser.py), the time from navigation to the chart drawn, median of 5.

    PYTHONPATH=. .venv/bin/python bench/pages.py --users 50 --days 14
    .venv/bin/python bench/api.py --calibrate 0 --seconds 0 --warmup 0     # generates bench_api once
    ADDVALUE_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test \
      PYTHONPATH=. .venv/bin/python bench/pages.py --schema bench_api
"""

from __future__ import annotations

import argparse
import base64
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from bench.api import CpuClock, master_key
from tests.e2e.browser import CHROMIUM, LAUNCH_FLAGS
from tests.e2e.served import Served, start_served
from tests.e2e.test_dashboards_browser import ADMIN_PAGES, PLATFORM_PAGES

PAGES = (*PLATFORM_PAGES, *ADMIN_PAGES)
CHARTS = ("/", "/flourish", "/waves", "/weekly", "/pipeline")
ASSETS = (
    "/static/dashboard.js",
    "/static/dashboard.css",
    "/static/vendor/uplot/uPlot.iife.min.js",
    "/static/vendor/uplot/uPlot.min.css",
)


def _link(service: Served) -> str:
    args = [sys.executable, "-m", "entrypoints.cli", "dashboard-link", "--role", "admin"]
    done = subprocess.run(args, env=service.env, cwd=service.workdir, check=True, capture_output=True, text=True)
    return done.stdout.split()[-1]


def _timings(client: httpx.Client, requests: int, server: int) -> None:
    print(f"{'page':12} {'p50 ms':>8} {'p95 ms':>8} {'CPU ms':>7} {'html gzip KB':>13} {'with assets KB':>15}")
    assets = sum(len(gzip.compress(client.get(a).content)) for a in ASSETS)
    for page in PAGES:
        times = []
        cpu = CpuClock(server)
        for _ in range(requests):
            started = time.perf_counter()
            answer = client.get(page)
            times.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200, (page, answer.status_code)
        server_ms = 1000 * cpu.used()["server"] / requests
        html = len(gzip.compress(answer.content))
        p95 = statistics.quantiles(times, n=20)[-1]
        print(
            f"{page:12} {statistics.median(times):8.1f} {p95:8.1f} {server_ms:7.1f} {html / 1024:13.1f}"
            f" {(html + assets) / 1024:15.1f}"
        )


def _first_chart(service: Served) -> None:
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=list(LAUNCH_FLAGS))
        page = browser.new_page()
        page.goto(_link(service))
        for path in CHARTS:
            page.goto(service.base_url + path)
            if not page.locator("[data-chart]").count():
                print(f"no chart on {path} with this data")  # e.g. a week too early in the data for a forecast
                continue
            runs = []
            for _ in range(5):
                started = time.perf_counter()
                page.goto(service.base_url + path)
                page.wait_for_selector("[data-chart][data-drawn='true']")
                runs.append((time.perf_counter() - started) * 1000)
            print(f"first chart drawn on {path}: median {statistics.median(runs):.0f} ms (max {max(runs):.0f})")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--schema", help="PostgreSQL schema bench/api.py generated (ADDVALUE_TEST_POSTGRES_URL)")
    args = parser.parse_args()
    env = {"ADDVALUE_API_REQUESTS_PER_HOUR": "100000000"}
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as folder:
        if args.schema:
            key = base64.b64encode(master_key(args.schema)).decode()
            env |= {"ADDVALUE_DATABASE_SCHEMA": args.schema, "ADDVALUE_MASTER_KEY": key}
            env |= {"ADDVALUE_SERVE_PROJECTIONS": "false"}
            served = start_served("postgres", Path(folder), env=env)
        else:
            demo = ("demo", "--users", str(args.users), "--days", str(args.days))
            served = start_served("sqlite", Path(folder), prepare=(demo,), env=env)
        with served as service:
            assert service.process is not None
            with httpx.Client(base_url=service.base_url, timeout=30) as client:
                client.get(_link(service))
                _timings(client, args.requests, service.process.pid)
            _first_chart(service)
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
