"""Ingest benchmark: real HTTP load against the service on PostgreSQL.

Starts `addvalue serve` in its own process on a fresh schema, then drives it
from this process with an asyncio HTTP client: batches of --batch events
(default 100) from --users people who consented, --concurrency requests in
flight, for --seconds. Reports events/s, latency percentiles and errors, and
in the same run the rate of a raw COPY of equivalent rows into PostgreSQL, as
the floor to compare against.

    .venv/bin/python bench/ingest.py --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.tokens import JwtTokens  # noqa: E402
from tests.fakes import consent, event  # noqa: E402

SECRET = "bench-secret-" + "z" * 40


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("service did not become ready")


def make_batch(users: list[uuid.UUID], size: int, rng: random.Random, *, mixed: bool) -> bytes:
    """As a phone sends them: one person's events of one session (``mixed``: random people)."""
    now = datetime.now(UTC)
    events = []
    device_user = rng.choice(users)
    for _ in range(size):
        user = rng.choice(users) if mixed else device_user
        events.append(
            event(
                "activation_round_completed",
                user,
                {"activation_id": f"a-{rng.randrange(10**6)}", "round": rng.randint(1, 8), "duration_seconds": 60},
                at=now,
                session_id=f"s-{user.hex[:8]}-{now:%H}",
            )
        )
    return b'{"batch":[' + b",".join(events) + b"]}"


async def load(url: str, token: str, users: list[uuid.UUID], args: argparse.Namespace) -> dict[str, float]:
    rng = random.Random(1)
    latencies: list[float] = []
    errors = accepted = 0
    stop_at = time.monotonic() + args.seconds
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    # --rate: requests leave on a fixed schedule (open loop), so latency is measured at
    # that load rather than at whatever the server sustains.
    interval = args.batch / args.rate if args.rate else 0.0
    next_send = [time.monotonic()]

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors, accepted
        while time.monotonic() < stop_at:
            if interval:
                due, next_send[0] = next_send[0], next_send[0] + interval
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            body = make_batch(users, args.batch, rng, mixed=args.mixed)
            started = time.perf_counter()
            try:
                response = await client.post(f"{url}/v1/events", content=body, headers=headers)
            except httpx.HTTPError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                errors += 1
            else:
                accepted += response.json()["accepted"]

    started = time.monotonic()
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=args.concurrency)) as client:
        await asyncio.gather(*(worker(client) for _ in range(args.concurrency)))
    elapsed = time.monotonic() - started
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "events_per_s": accepted / elapsed,
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": q[49] * 1000,
        "p95_ms": q[94] * 1000,
        "p99_ms": q[98] * 1000,
        "seconds": elapsed,
    }


def copy_rate(url: str, schema: str, rows: int = 200_000) -> float:
    """Raw COPY of rows shaped like ours (uuid, version, topic, ~300 bytes of state)."""
    payload = os.urandom(300)
    with psycopg.connect(url) as conn:
        conn.execute(
            f"CREATE TABLE {schema}.copy_floor (originator_id uuid, originator_version bigint, topic text, state bytea)"
        )
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy(f"COPY {schema}.copy_floor FROM STDIN") as copy:
            for i in range(rows):
                copy.write_row((uuid.uuid4(), i, "domain.session:Session.EventsTracked", payload))
        conn.commit()
        return rows / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("ADDVALUE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--mixed", action="store_true", help="each batch from random people (a server-side source)")
    parser.add_argument("--rate", type=float, default=0, help="events per second to offer (0: as fast as answered)")
    parser.add_argument(
        "--projections-apart",
        action="store_true",
        help="run the projection jobs in their own process (addvalue project --follow), not in serve",
    )
    args = parser.parse_args()

    if not args.port:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            args.port = probe.getsockname()[1]
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    url = f"http://127.0.0.1:{args.port}"
    env = {
        **os.environ,
        "ADDVALUE_DATABASE_URL": args.database_url,
        "ADDVALUE_DATABASE_SCHEMA": schema,
        "ADDVALUE_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
        "ADDVALUE_JWT_SECRET": SECRET,
        "ADDVALUE_PORT": str(args.port),
        "ADDVALUE_LOG_LEVEL": "warning",
    }
    if args.projections_apart:
        env["ADDVALUE_SERVE_PROJECTIONS"] = "false"
    server = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "serve"], env=env, cwd=ROOT)
    worker = (
        subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "project", "--follow"], env=env, cwd=ROOT)
        if args.projections_apart
        else None
    )
    try:
        wait_ready(url)
        token = JwtTokens(SECRET, issuer="addvalue", audience="addvalue-analytics").mint("bench", "service")
        users = [uuid.uuid4() for _ in range(args.users)]
        for start in range(0, len(users), 500):
            body = b'{"batch":[' + b",".join(consent(u, analytics=True) for u in users[start : start + 500]) + b"]}"
            httpx.post(
                f"{url}/v1/events", content=body, headers={"Authorization": f"Bearer {token}"}, timeout=120
            ).raise_for_status()
        result = asyncio.run(load(url, token, users, args))
    finally:
        for process in (server, worker):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
    floor = copy_rate(args.database_url, schema)
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
        conn.execute(f"DROP SCHEMA IF EXISTS {schema}_keys CASCADE")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    shape = "mixed people per batch" if args.mixed else "one person and session per batch"
    shape += ", projections in their own process" if args.projections_apart else ", projections in serve"
    shape += f", offered {args.rate:,.0f} events/s" if args.rate else ""
    print(f"load: {args.seconds:.0f} s, batches of {args.batch} ({shape}), {args.concurrency} in flight")
    print(f"people: {args.users}")
    print(
        f"ingest: {result['events_per_s']:,.0f} events/s over {result['requests']} requests, "
        f"{result['errors']} errors; latency p50 {result['p50_ms']:.1f} ms, "
        f"p95 {result['p95_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms"
    )
    print(f"raw COPY floor: {floor:,.0f} rows/s; ingest/COPY = {result['events_per_s'] / floor:.3f}")


if __name__ == "__main__":
    main()
