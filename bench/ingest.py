"""Ingest benchmark: real HTTP load against the service on PostgreSQL.

Starts `addvalue serve` in its own process on a fresh schema, then drives it
from --clients processes, each a small asyncio HTTP/1.1 client over keep-alive
connections (bodies made from a template, so the load costs ~1 µs per event):
batches of --batch events (default 100) from --users people who consented,
--concurrency requests in flight, for --seconds. As phones do, each connection
sends its own people's batches (with --workers N, one person's session is then
written by one worker, as in production); --any-connection sends any person's
batch over any connection. CPU shares of the server, PostgreSQL and the load
generator are printed with the result, and each one's CPU time per accepted
event (µs), which other load on the machine disturbs far less. Reports
events/s, latency percentiles and errors, and in the same run the rate of a
raw COPY of equivalent rows into PostgreSQL, as the floor to compare against.
--no-metrics runs the same service with every measurement of /metrics turned
into a no-op (bench/no_metrics/sitecustomize.py), so the two figures give the
instrumentation's cost (bench/metrics_overhead.py runs both in turn).

    .venv/bin/python bench/ingest.py --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import multiprocessing
import os
import platform
import random
import re
import socket
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.api_access.tokens import JwtTokens  # noqa: E402
from bench.options import benchmark_parser, kept_schema_master_key, schema_tables  # noqa: E402
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


class _Template:
    """One person's batch with its event ids left open: a body costs a few µs per event to make.

    The bytes are those ``tests.fakes.event`` makes (same fields, same order); only the
    event ids (fresh each time) and the timestamp (now, refreshed every second) change.
    """

    _MARK = "00000000-0000-4000-8000-000000000000"

    def __init__(self, users: list[uuid.UUID], size: int, *, mixed: bool, seed: int) -> None:
        self._users, self._size, self._mixed = users, size, mixed
        self._rng = random.Random(seed)
        self._second = -1
        self._parts: dict[uuid.UUID, list[bytes]] = {}

    def _refresh(self) -> None:
        now = datetime.now(UTC)
        self._now = now
        self._parts.clear()

    def _parts_for(self, user: uuid.UUID, count: int) -> list[bytes]:
        found = self._parts.get(user)
        if found is None or len(found) != count + 1:
            now = self._now
            one = event(
                "activation_round_completed",
                user,
                {"activation_id": "a-1", "round": 3, "duration_seconds": 60},
                at=now,
                event_id=uuid.UUID(self._MARK),
                session_id=f"s-{user.hex[:8]}-{now:%H}",
            )
            found = (b"," + one).split(self._MARK.encode())
            found = [found[0][1:], *([found[1] + found[0]] * (count - 1)), found[1]]
            self._parts[user] = found
        return found

    def body(self) -> bytes:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._refresh()
        if self._mixed:
            chunks = [self._parts_for(self._rng.choice(self._users), 1) for _ in range(self._size)]
            events = [b"".join((p[0], str(uuid.uuid4()).encode(), p[1])) for p in chunks]
            return b'{"batch":[' + b",".join(events) + b"]}"
        parts = self._parts_for(self._rng.choice(self._users), self._size)
        hexes = os.urandom(16 * self._size).hex()
        out = [b'{"batch":[']
        for i in range(self._size):
            h = hexes[32 * i : 32 * i + 32]
            out.append(parts[i])
            out.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:]}".encode())
        out.append(parts[self._size])
        out.append(b"]}")
        return b"".join(out)


class _Connection:
    """One keep-alive HTTP/1.1 connection: a request out, its answer in (no parsing beyond that)."""

    def __init__(self, host: str, port: int, head: bytes) -> None:
        self._host, self._port, self._head = host, port, head
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        try:
            self._writer.write(self._head + str(len(body)).encode() + b"\r\n\r\n" + body)
            head = await self._reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            answer = await self._reader.readexactly(int(length[1])) if length else b""
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            self.close()
            raise
        if re.search(rb"(?i)\r\nconnection: *close", head):
            self.close()
        return status, answer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


class _Accepted(msgspec.Struct):
    accepted: int


def _client(url: str, token: str, users: list[uuid.UUID], args: argparse.Namespace, index: int) -> dict[str, Any]:
    """One load process: its share of the connections and of the offered rate."""
    return asyncio.run(_client_loop(url, token, users, args, index))


async def _client_loop(
    url: str, token: str, users: list[uuid.UUID], args: argparse.Namespace, index: int
) -> dict[str, Any]:
    host, port = url.removeprefix("http://").split(":")
    head = (
        f"POST /v1/events HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nContent-Length: "
    ).encode()
    shared = _Template(users, args.batch, mixed=args.mixed, seed=index)
    decoder = msgspec.json.Decoder(_Accepted)
    latencies: list[float] = []
    errors = accepted = 0
    connections = max(1, args.concurrency // args.clients + (index < args.concurrency % args.clients))
    # --rate: requests leave on a fixed schedule (open loop), so latency is measured at
    # that load rather than at whatever the server sustains.
    interval = args.batch * args.clients / args.rate if args.rate else 0.0
    started = time.monotonic()
    stop_at = started + args.seconds
    next_send = [started + (interval * index / args.clients)]

    first_connection = sum(
        max(1, args.concurrency // args.clients + (i < args.concurrency % args.clients)) for i in range(index)
    )

    async def worker(number: int) -> None:
        nonlocal errors, accepted
        connection = _Connection(host, int(port), head)
        # As phones do, each connection carries the batches of its own people only (unless
        # --any-connection): with several serve workers, a session is then written by one of them.
        own = users[number :: max(args.concurrency, 1)] or users
        template = shared if args.any_connection or args.mixed else _Template(own, args.batch, mixed=False, seed=number)
        while time.monotonic() < stop_at:
            if interval:
                due, next_send[0] = next_send[0], next_send[0] + interval
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            body = template.body()
            sent = time.perf_counter()
            try:
                status, answer = await connection.post(body)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                errors += 1
                continue
            latencies.append(time.perf_counter() - sent)
            if status != 200:
                errors += 1
            else:
                accepted += decoder.decode(answer).accepted
        connection.close()

    cpu = time.process_time()
    await asyncio.gather(*(worker(first_connection + i) for i in range(connections)))
    return {
        "latencies": latencies,
        "errors": errors,
        "accepted": accepted,
        "seconds": time.monotonic() - started,
        "cpu": time.process_time() - cpu,
    }


def load(url: str, token: str, users: list[uuid.UUID], args: argparse.Namespace) -> dict[str, float]:
    """Run --clients load processes at once and merge what they measured."""
    with multiprocessing.get_context("fork").Pool(args.clients) as pool:
        parts = pool.starmap(_client, [(url, token, users, args, i) for i in range(args.clients)])
    latencies = sorted(x for p in parts for x in p["latencies"])
    elapsed = max(p["seconds"] for p in parts)
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "events_per_s": sum(p["accepted"] for p in parts) / elapsed,
        "requests": len(latencies),
        "errors": sum(p["errors"] for p in parts),
        "p50_ms": q[49] * 1000,
        "p95_ms": q[94] * 1000,
        "p99_ms": q[98] * 1000,
        "seconds": elapsed,
        "client_cpu": sum(p["cpu"] for p in parts) / elapsed,
    }


def _cpu_ticks() -> dict[int, tuple[str, int, int]]:
    """Per process: (name, parent, CPU ticks used so far)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                head, rest = (entry / "stat").read_text().rsplit(")", 1)
            except OSError:
                continue
            fields = rest.split()
            found[int(entry.name)] = (head.split("(", 1)[1], int(fields[1]), int(fields[11]) + int(fields[12]))
    return found


def _cpu_used(before: dict[int, tuple[str, int, int]], roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds since ``before`` of each root process with its descendants, and of all PostgreSQL processes."""
    now = _cpu_ticks()
    ticks = os.sysconf("SC_CLK_TCK")

    def used(pids: set[int]) -> float:
        return sum(now[p][2] - (before[p][2] if p in before else 0) for p in pids if p in now) / ticks

    result = {}
    for name, root in roots.items():
        tree, grown = {root}, True
        while grown:
            found = {pid for pid, (_, parent, _) in now.items() if parent in tree} - tree
            grown = bool(found)
            tree |= found
        result[name] = used(tree)
    result["postgres (all)"] = used({pid for pid, (name, _, _) in now.items() if name == "postgres"})
    return result


def projection_lag(url: str, schema: str) -> int:
    """Log entries (stored events, each one session's events of one write) the slowest read model has not applied."""
    with psycopg.connect(url, autocommit=True) as conn:
        top = conn.execute(f"SELECT coalesce(max(notification_id), 0) FROM {schema}.addvalue_events").fetchone()
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_name LIKE %s",
            (schema, "%\\_tracking"),
        ).fetchall()
        done = [
            conn.execute(f"SELECT coalesce(max(notification_id), 0) FROM {schema}.{t[0]}").fetchone() for t in tables
        ]
    assert top is not None
    return int(top[0]) - min((int(d[0]) for d in done if d is not None), default=0)


def wait_caught_up(url: str, schema: str, timeout: float = 300) -> float | None:
    """Seconds until the read models have applied everything stored; None if not within ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if projection_lag(url, schema) == 0:
            return time.monotonic() - started
        time.sleep(0.5)
    return None


def people(count: int, schema: str | None) -> list[uuid.UUID]:
    """Random people; for a kept schema (--schema) the same ones on every run, so a later run sends the events of
    people the store knows (the first ``count`` of those that filled it)."""
    if not schema:
        return [uuid.uuid4() for _ in range(count)]
    seed = f"addvalue bench people {schema}:".encode()
    return [uuid.UUID(bytes=hashlib.sha256(seed + str(i).encode()).digest()[:16], version=4) for i in range(count)]


def consent_all(url: str, token: str, users: list[uuid.UUID]) -> None:
    """Every person consents first, 500 per batch, 8 batches in flight (a million people: growth runs)."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(headers=headers, timeout=120) as client:

        def send(start: int) -> None:
            body = b'{"batch":[' + b",".join(consent(u, analytics=True) for u in users[start : start + 500]) + b"]}"
            client.post(f"{url}/v1/events", content=body).raise_for_status()

        with ThreadPoolExecutor(8) as pool:
            for done, _ in enumerate(pool.map(send, range(0, len(users), 500)), 1):
                if done % 200 == 0:
                    print(f"consented: {done * 500:,} people", file=sys.stderr, flush=True)


def stored_events(url: str, schema: str) -> int:
    """Events in the schema's event store (0 before it exists)."""
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (f"{schema}.addvalue_events",)).fetchone()
        if exists is None or exists[0] is None:
            return 0
        row = conn.execute(f"SELECT count(*) FROM {schema}.addvalue_events").fetchone()
        return int(row[0]) if row else 0


def disk_use(url: str, schema: str) -> dict[str, int]:
    """Bytes on disk (tables with their indexes and TOAST) of the event store, its ledger, the keys, the rest."""
    groups = {
        "addvalue_events": "events",
        "addvalue_ingested_event_ids": "ledger",
    }
    sizes: dict[str, int] = {"events": 0, "ledger": 0, "keys": 0, "read models and the rest": 0}
    with psycopg.connect(url, autocommit=True) as conn:
        rows = schema_tables(conn, schema)
    for namespace, table, size in rows:
        group = "keys" if namespace.endswith("_keys") else groups.get(table, "read models and the rest")
        sizes[group] += size
    return sizes


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
        seconds = time.perf_counter() - started
        conn.execute(f"DROP TABLE {schema}.copy_floor")  # a kept schema (--schema) is measured again later
        conn.commit()
        return rows / seconds


def main() -> None:
    parser = benchmark_parser(__doc__)
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
    parser.add_argument(
        "--no-projections",
        action="store_true",
        help="run no projection jobs during the load (as when they run on another machine)",
    )
    parser.add_argument("--workers", type=int, default=1, help="serve's worker processes (addvalue serve --workers)")
    parser.add_argument("--clients", type=int, default=1, help="load generator processes")
    parser.add_argument(
        "--any-connection",
        action="store_true",
        help="send each person's batches over any connection (default: each connection has its own people, "
        "as each phone has its own connection)",
    )
    parser.add_argument(
        "--schema",
        help="use (or make) this schema and keep it afterwards: a store already holding data, for growth runs "
        "(its master key and people are derived from its name: bench data only; people consent only in the run "
        "that makes it); default a fresh schema, dropped at the end",
    )
    parser.add_argument(
        "--no-metrics", action="store_true", help="serve with every /metrics measurement a no-op (to measure its cost)"
    )
    args = parser.parse_args()

    if not args.port:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            args.port = probe.getsockname()[1]
    schema = args.schema or f"bench_{uuid.uuid4().hex[:8]}"
    # A kept schema is opened again by later runs, so its master key must be the same each time.
    master = kept_schema_master_key(schema) if args.schema else os.urandom(32)
    url = f"http://127.0.0.1:{args.port}"
    env = {
        **os.environ,
        "ADDVALUE_DATABASE_URL": args.database_url,
        "ADDVALUE_DATABASE_SCHEMA": schema,
        "ADDVALUE_MASTER_KEY": base64.b64encode(master).decode(),
        "ADDVALUE_JWT_SECRET": SECRET,
        "ADDVALUE_PORT": str(args.port),
        "ADDVALUE_LOG_LEVEL": "warning",
    }
    if args.projections_apart or args.no_projections:
        env["ADDVALUE_SERVE_PROJECTIONS"] = "false"
    if args.no_metrics:  # the service's processes load bench/no_metrics/sitecustomize.py first
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "bench" / "no_metrics"), str(ROOT)])
    serve = [
        sys.executable,
        "-m",
        "entrypoints.cli.main",
        "serve",
        *(["--workers", str(args.workers)] * (args.workers > 1)),
    ]
    server = subprocess.Popen(serve, env=env, cwd=ROOT)
    worker = (
        subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "project", "--follow"], env=env, cwd=ROOT)
        if args.projections_apart
        else None
    )
    try:
        wait_ready(url)
        token = JwtTokens(SECRET, issuer="addvalue", audience="addvalue-analytics").mint("bench", "service")
        stored_before = stored_events(args.database_url, schema)
        users = people(args.users, args.schema)
        if not (args.schema and stored_before):  # a kept schema's people consented in the run that filled it
            consent_all(url, token, users)
        load_average = os.getloadavg()[0]
        before = _cpu_ticks()
        result = load(url, token, users, args)
        roots = {"server": server.pid, **({"projections": worker.pid} if worker is not None else {})}
        cpu = {**_cpu_used(before, roots), "load generator": result["client_cpu"] * result["seconds"]}
        lag = projection_lag(args.database_url, schema)
        catch_up = None if args.no_projections else wait_caught_up(args.database_url, schema)
    finally:
        for process in (server, worker):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
    floor = copy_rate(args.database_url, schema)
    sizes = disk_use(args.database_url, schema) if args.schema else {}
    stored_after = stored_events(args.database_url, schema)
    if not args.schema:
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
            conn.execute(f"DROP SCHEMA IF EXISTS {schema}_keys CASCADE")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    shape = "mixed people per batch" if args.mixed else "one person and session per batch"
    if not args.mixed:
        shape += ", any person on any connection" if args.any_connection else ", each connection its own people"
    if args.no_projections:
        shape += ", no projections"
    else:
        shape += ", projections in their own process" if args.projections_apart else ", projections in serve"
    shape += f", {args.workers} serve workers, {args.clients} load processes"
    shape += f", offered {args.rate:,.0f} events/s" if args.rate else ""
    shape += ", metrics off (no-op)" if args.no_metrics else ", metrics on"
    print(f"load: {args.seconds:.0f} s, batches of {args.batch} ({shape}), {args.concurrency} in flight")
    print(f"people: {args.users}; 1-min load average before the run: {load_average:.2f}")
    print(
        f"ingest: {result['events_per_s']:,.0f} events/s over {result['requests']} requests, "
        f"{result['errors']} errors; latency p50 {result['p50_ms']:.1f} ms, "
        f"p95 {result['p95_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms"
    )
    shares = ", ".join(f"{name} {seconds / result['seconds']:.0%}" for name, seconds in cpu.items())
    print(f"CPU, share of one core: {shares}")
    # Per accepted event: far less sensitive than a rate to other work on the machine.
    accepted = result["events_per_s"] * result["seconds"]
    per_event = ", ".join(f"{name} {seconds / max(accepted, 1) * 1e6:.1f}" for name, seconds in cpu.items())
    print(f"CPU per accepted event, µs: {per_event}")
    if args.no_projections:
        print(f"read models: {lag:,} log entries not applied at the end (no projections ran)")
    else:
        after = "not within 300 s" if catch_up is None else f"{catch_up:.1f} s after the load stopped"
        print(f"read models: {lag:,} log entries behind when the load stopped; caught up {after}")
    print(f"raw COPY floor: {floor:,.0f} rows/s; ingest/COPY = {result['events_per_s'] / floor:.3f}")
    print(f"store: {stored_before:,} stored events before the run, {stored_after:,} after (schema {schema})")
    if sizes:
        total = sum(sizes.values())
        parts = ", ".join(f"{name} {size / 2**20:,.0f}" for name, size in sizes.items())
        per_million = total / max(stored_after, 1) * 1e6 / 2**20
        print(f"disk, MiB: {parts}; all {total / 2**20:,.0f} = {per_million:,.0f} MiB per million stored events")


if __name__ == "__main__":
    main()
