"""Analytics API read benchmark: metric reads over HTTP at a fixed rate, against PostgreSQL.

Data: --users people (default 10,000) over --days days (default 90) ending
yesterday, kept in the schema --schema (default ``bench_api``) and reused by
later runs (``--fresh`` rebuilds it). Everyone consents and signs up on the
first day; each is then active on about --active of the days (default 30%)
with 2 to --max-events events (mood logs, micro-acts, likes, Wave joins),
sent through the ingestion use case a day at a time with the service's clock
set just after that day, so the catalog's 30-day bound holds; close-day runs
then, and daily-indices meanwhile in --workers other processes (weekly and
monthly summaries at the end), and ANALYZE gives the planner the new tables'
statistics. Progress is recorded per day: a stopped generation resumes where
it was. With --seconds 0 and --calibrate 0 it stops there (the data only, as
bench/pages.py serves it).

Load: ``addvalue serve --workers N`` (--server-workers, default 2) in its own
process (server CPU counts it and its worker processes); this process first sends each
route --calibrate times, one request at a time (latency and server CPU per
request, unloaded), then requests on a fixed schedule (open loop, --rate per
second for --seconds after a --warmup): per-person reads (role ``user``
tokens of random people, their own figures), platform reads and dashboards
(role ``analyst``) and real-time counters, in the MIX proportions (--routes
to keep some). Latency counts from each request's scheduled time, so a
client falling behind counts against the result. Every request also counts
the quota and writes the access log (each group-committed with the concurrent
requests' in a worker): that is part of what is measured.

    .venv/bin/python bench/api.py                 # generate once (or reuse), then 60 s at 500 requests/s
    PY_SPY=/path/to/py-spy .venv/bin/python bench/api.py --profile   # and where the server's time goes
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import hashlib
import json
import multiprocessing
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from multiprocessing.synchronize import Lock
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.sql import SQL, Identifier

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.api_access.tokens import JwtTokens  # noqa: E402
from adapters.database_url import parse_database_url  # noqa: E402
from application.ingest.ingestion import PreparedBatch  # noqa: E402
from application.principals import Principal  # noqa: E402
from bench.options import benchmark_parser, schema_tables  # noqa: E402
from entrypoints.bootstrap import Container, Overrides, bootstrap  # noqa: E402
from entrypoints.settings import Settings  # noqa: E402
from tests.fakes import CONSENT_ALL_OFF, FixedClock, event  # noqa: E402

SECRET = "bench-api-secret-" + "q" * 40
SERVICE = Principal(subject="bench", role="service")
GROUP = 64  # person-days written per transaction
# (route, path template, weight): per-person reads dominate, as the app shows them to each person.
MIX = [
    ("flourish_index", "/api/metrics/flourish-index?user_id={user}&date={day}", 30),
    ("add_value_index", "/api/metrics/add-value-index?user_id={user}&date={day}", 20),
    ("user_activity", "/api/metrics/user-activity?user_id={user}&from={month_before}&to={day}", 25),
    ("platform_summary", "/api/metrics/platform-summary?date={day}", 5),
    ("dashboard_active_people", "/api/dashboard/active-users?from={month_before}&to={day}", 2),
    ("dashboard_wave_participation", "/api/dashboard/wave-participation?from={month_before}&to={day}", 1),
    ("dashboard_flourish", "/api/dashboard/flourish?from={day}&to={day}", 1),
    ("dashboard_weekly", "/api/dashboard/weekly?week={week_before}", 1),
    ("realtime_dau", "/api/realtime/dau", 10),
    ("realtime_active_sessions", "/api/realtime/active-sessions", 5),
]


# --- data ------------------------------------------------------------------------------------------


class Plan:
    """What to generate; stored with the data so that a later run reuses or resumes the same history."""

    def __init__(self, *, users: int, days: int, last_day: date, active: float, max_events: int) -> None:
        self.users, self.days, self.last_day = users, days, last_day
        self.active, self.max_events = active, max_events
        rng = random.Random(f"people-{users}")
        self.people = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(users)]

    @property
    def first_day(self) -> date:
        return self.last_day - timedelta(days=self.days - 1)

    def dates(self) -> list[date]:
        return [self.first_day + timedelta(days=i) for i in range(self.days)]

    def as_json(self) -> str:
        keys = ("users", "days", "active", "max_events")
        return json.dumps({**{k: getattr(self, k) for k in keys}, "last_day": self.last_day.isoformat()})

    @classmethod
    def from_json(cls, text: str) -> Plan:
        found = json.loads(text)
        return cls(**{**found, "last_day": date.fromisoformat(found["last_day"])})

    def batches(self, day: date) -> Iterator[list[bytes]]:
        """One batch (one session) per person active on ``day``; the same bytes every time (ids included)."""
        rng = random.Random(f"day-{day.isoformat()}")
        for person in self.people:
            if day == self.first_day:
                yield self._joining(rng, person, day)
            elif rng.random() < self.active:
                yield self._active(rng, person, day)

    def _at(self, rng: random.Random, day: date) -> datetime:
        return datetime(day.year, day.month, day.day, rng.randint(6, 21), rng.randrange(60), tzinfo=UTC)

    def _joining(self, rng: random.Random, person: uuid.UUID, day: date) -> list[bytes]:
        at = self._at(rng, day)
        signup = event(
            "user_signup",
            person,
            {"signup_method": "email"},
            at=at + timedelta(seconds=5),
            event_id=_id(rng),
            session_id=_session(person, day),
        )
        choice = {**CONSENT_ALL_OFF, "analytics": True}
        agreed = event(
            "user_consent_update", person, choice, at=at, event_id=_id(rng), session_id=_session(person, day)
        )
        return [agreed, signup]

    def _active(self, rng: random.Random, person: uuid.UUID, day: date) -> list[bytes]:
        at, session, activation = self._at(rng, day), _session(person, day), f"a-{rng.getrandbits(32):x}"
        kinds: list[tuple[str, dict[str, Any]]] = [
            ("activation_mood_logged", {"activation_id": activation, "phase": "start", "mood": rng.randint(2, 8)}),
            ("activation_mood_logged", {"activation_id": activation, "phase": "end", "mood": rng.randint(4, 10)}),
            ("microact_created", {"microact_id": f"m-{rng.getrandbits(32):x}", "category": "kindness"}),
            ("post_liked", {"post_id": f"p-{rng.getrandbits(16):x}"}),
            ("wave_joined", {"wave_id": f"wave-{day:%Y%m%d}"}),
        ]
        chosen = kinds[:2] + rng.choices(kinds[2:], k=rng.randint(0, self.max_events - 2))
        return [
            event(name, person, props, at=at + timedelta(minutes=2 * i), event_id=_id(rng), session_id=session)
            for i, (name, props) in enumerate(chosen)
        ]


def _id(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _session(person: uuid.UUID, day: date) -> str:
    return f"s-{person.hex[:8]}-{day:%Y%m%d}"


class Progress:
    """The plan and what is done, in a table of the bench's schema, on one connection held throughout
    (the server allows 100, and others' tests share them)."""

    def __init__(self, url: str, schema: str) -> None:
        self._conn = psycopg.connect(url, autocommit=True)
        self._table = SQL("{}.bench_api_progress").format(Identifier(schema))
        self._conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(schema)))
        self._conn.execute(SQL("CREATE TABLE IF NOT EXISTS {} (key text PRIMARY KEY, value text)").format(self._table))

    def read(self) -> dict[str, str]:
        return dict(self._conn.execute(SQL("SELECT key, value FROM {}").format(self._table)).fetchall())

    def write(self, **values: str) -> None:
        upsert = SQL("INSERT INTO {} VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        for key, value in values.items():
            self._conn.execute(upsert.format(self._table), (key, value))

    def close(self) -> None:
        self._conn.close()


def settings_for(url: str, schema: str) -> Settings:
    return Settings(database=parse_database_url(url, schema=schema), master_key=master_key(schema), jwt_secret=SECRET)


def master_key(schema: str) -> bytes:
    """Fixed per schema, so that a later run can read the data an earlier one encrypted (a bench key only)."""
    return hashlib.sha256(b"addvalue bench api " + schema.encode()).digest()


def generate(args: argparse.Namespace) -> tuple[Plan, float]:
    """The history in the schema (made, resumed or reused); the seconds generation has taken in all runs."""
    if args.fresh:
        drop_schema(args.database_url, args.schema)
    progress = Progress(args.database_url, args.schema)
    try:
        found = progress.read()
        if "plan" in found:
            plan = Plan.from_json(found["plan"])
            if (plan.users, plan.days) != (args.users, args.days):
                raise SystemExit(f"{args.schema} holds {plan.users} x {plan.days} days: pass --fresh to rebuild")
        else:
            last = datetime.now(UTC).date() - timedelta(days=1)
            plan = Plan(users=args.users, days=args.days, last_day=last, active=args.active, max_events=args.max_events)
            progress.write(plan=plan.as_json())
        spent = float(found.get("generation_seconds", 0))
        if "complete" not in found:
            started = time.perf_counter()
            try:
                build(args, plan, found, progress)
            finally:
                spent += time.perf_counter() - started
                progress.write(generation_seconds=f"{spent:.1f}")
            progress.write(complete="yes")
        return plan, spent
    finally:
        progress.close()


def build(args: argparse.Namespace, plan: Plan, found: dict[str, str], progress: Progress) -> None:
    """Each day ingested and closed here, its indices computed meanwhile in --workers other processes."""
    ingested = date.fromisoformat(found.get("ingested_through", (plan.first_day - timedelta(1)).isoformat()))
    context = multiprocessing.get_context("spawn")
    initargs = (args.database_url, args.schema, context.Lock())
    with ProcessPoolExecutor(args.workers, mp_context=context, initializer=_start_worker, initargs=initargs) as pool:
        indexing: dict[Future[float], date] = {}
        with service(args) as (container, clock):
            for day in plan.dates():
                if day > ingested:
                    print(f"{day}: {ingest_day(container, clock, plan, day)}", file=sys.stderr)
                    progress.write(ingested_through=day.isoformat())
                if f"indexed {day}" not in found:
                    indexing[pool.submit(_index_day, day)] = day
                _indexed([f for f in indexing if f.done()], indexing, progress)
        _indexed(as_completed(indexing), indexing, progress)
    with service(args) as (container, clock):
        for day in plan.dates():  # after the indices: the executive summary reads them
            summarize(container, clock, day)
        container.daily_counts.catch_up()
        container.live_activity.catch_up()
    analyze(args.database_url, args.schema)


def analyze(url: str, schema: str) -> None:
    """Table statistics for the planner: a schema filled minutes ago has none until autovacuum gets to it, and
    a read planned blind (e.g. the day reports' range, joined to an array of ids) scans the whole event table."""
    with psycopg.connect(url, autocommit=True) as conn:
        for namespace, table, _ in schema_tables(conn, schema):
            conn.execute(SQL("ANALYZE {}.{}").format(Identifier(namespace), Identifier(table)))


def _indexed(done: Iterable[Future[float]], indexing: dict[Future[float], date], progress: Progress) -> None:
    """Record the days whose indices are done (so that a stopped run does not compute them again)."""
    for future in done:
        day = indexing.pop(future)
        progress.write(**{f"indexed {day}": f"{future.result():.1f}"})
        print(f"{day}: daily-indices {future.result():.1f} s", file=sys.stderr)


@contextmanager
def service(args: argparse.Namespace) -> Iterator[tuple[Container, FixedClock]]:
    """The service, in this process, on a clock the caller sets."""
    clock = FixedClock()
    container = bootstrap(settings_for(args.database_url, args.schema), overrides=Overrides(clock=clock))
    try:
        yield container, clock
    finally:
        container.close()


def ingest_day(container: Container, clock: FixedClock, plan: Plan, day: date) -> str:
    """The day's events as they arrive just after it, then that night's close-day. What took how long."""
    started = time.perf_counter()
    clock.current = _midnight_after(day) + timedelta(minutes=10)
    accepted = 0
    group: list[PreparedBatch] = []
    for batch in plan.batches(day):
        group.append(container.ingestion.prepare(batch, sent_at=None, principal=SERVICE))
        if len(group) == GROUP:
            accepted += sum(r.accepted for r in container.ingestion.record(group))
            group = []
    if group:
        accepted += sum(r.accepted for r in container.ingestion.record(group))
    ingesting = time.perf_counter() - started
    clock.current = _midnight_after(day) + timedelta(hours=2)
    closed = _run(container, "close-day", day)
    return f"{accepted:,} events ingested in {ingesting:.1f} s, close-day {closed:.1f} s"


def summarize(container: Container, clock: FixedClock, day: date) -> None:
    """The weekly summary after a Sunday, the monthly one after a month's last day."""
    if day.weekday() == 6:  # Sunday
        clock.current = _midnight_after(day) + timedelta(hours=3)
        _run(container, "weekly-summary", day)
    if (day + timedelta(days=1)).day == 1:
        clock.current = _midnight_after(day) + timedelta(hours=4)
        _run(container, "monthly-summary", day)


_worker: tuple[Container, FixedClock] | None = None


def _start_worker(url: str, schema: str, starting: Lock) -> None:
    global _worker  # noqa: PLW0603 - one container per worker process
    clock = FixedClock()
    # One at a time: the library's CREATE TABLE IF NOT EXISTS of two processes at once can fail
    # ("tuple concurrently updated").
    with starting:
        for attempt in range(5):
            try:
                _worker = (bootstrap(settings_for(url, schema), overrides=Overrides(clock=clock)), clock)
                return
            except Exception:
                time.sleep(1 + attempt)
        _worker = (bootstrap(settings_for(url, schema), overrides=Overrides(clock=clock)), clock)


def _index_day(day: date) -> float:
    assert _worker is not None
    container, clock = _worker
    clock.current = _midnight_after(day) + timedelta(hours=2, minutes=30)
    return _run(container, "daily-indices", day)


def _run(container: Container, job: str, day: date) -> float:
    """Run the job, again if it failed: two workers may catch the projection up past the same position,
    and PostgreSQL may refuse a connection for a while (too many clients)."""
    error: object = None
    for attempt in range(5):
        try:
            report = container.jobs.run(job, day)
        except Exception as e:
            error = e
        else:
            if report.status == "succeeded":
                return report.seconds
            error = report.error
        time.sleep(attempt)
    raise SystemExit(f"{job} {day}: {error}")


def _midnight_after(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)


def drop_schema(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for name in (schema, f"{schema}_keys"):
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(name)))


def data_size(url: str, schema: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        table = SQL("{}.user_day_counts").format(Identifier(schema))
        row = conn.execute(
            SQL("SELECT coalesce(sum(n), 0), count(*) FROM {} WHERE metric = 'events'").format(table)
        ).fetchone()
        size = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN (%s, %s) AND c.relkind = 'r'",
            (schema, f"{schema}_keys"),
        ).fetchone()
    assert row is not None
    assert size is not None
    return {"events": int(row[0]), "person_days": int(row[1]), "bytes": int(size[0])}


# --- load ------------------------------------------------------------------------------------------


class Requests:
    """The mix: which route, with whose token, about which day."""

    def __init__(self, plan: Plan, rng: random.Random, routes: set[str] | None = None) -> None:
        tokens = JwtTokens(SECRET, issuer="addvalue", audience="addvalue-analytics")
        self._rng = rng
        self._plan = plan
        self._analyst = _bearer(tokens.mint("bench-analyst", "analyst"))
        self._people = {p: _bearer(tokens.mint(str(p), "user")) for p in plan.people}
        self._paths = {name: path for name, path, _ in MIX}
        chosen = [(name, weight) for name, _, weight in MIX if routes is None or name in routes]
        self._routes = [name for name, _ in chosen]
        self._weights = [weight for _, weight in chosen]

    @property
    def routes(self) -> list[str]:
        return list(self._routes)

    def next(self) -> tuple[str, str, bytes]:
        return self.of(self._rng.choices(self._routes, self._weights)[0])

    def of(self, name: str) -> tuple[str, str, bytes]:
        path = self._paths[name]
        # A day of the last two months: by then everyone has an index (28 days of history behind them).
        day = self._plan.last_day - timedelta(days=self._rng.randrange(max(1, min(60, self._plan.days - 30))))
        person = self._rng.choice(self._plan.people)
        filled = path.format(
            user=person, day=day, month_before=day - timedelta(days=29), week_before=day - timedelta(days=7)
        )
        return name, filled, self._people[person] if "{user}" in path else self._analyst


class HealthOnly:
    """The floor's requests: ``GET /health``, which uvicorn and Litestar answer without the API's work."""

    def next(self) -> tuple[str, str, bytes]:
        return "health", "/health", b""


def _bearer(token: str) -> bytes:
    return f"Authorization: Bearer {token}\r\n".encode()


_KEEP_ALIVE = 4.0  # seconds a connection is reused after its last answer (uvicorn closes idle ones after 5)


class Http:
    """GET over keep-alive HTTP/1.1 connections, opened as needed up to ``limit``.

    Not httpx: the client shares two cores with the server and PostgreSQL, and
    this costs a fraction of httpx's CPU per request (bodies are read, not parsed).
    """

    def __init__(self, host: str, port: int, *, limit: int = 256) -> None:
        self._host, self._port = host, port
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self._slots = asyncio.Semaphore(limit)

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self._idle:
            reader, writer, used = self._idle.pop()
            if time.monotonic() - used < _KEEP_ALIVE:
                return reader, writer
            writer.close()  # the server may be closing it right now
        return await asyncio.open_connection(self._host, self._port)

    async def get(self, path: str, headers: bytes) -> int:
        async with self._slots:
            reader, writer = await self._connection()
            writer.write(b"GET %s HTTP/1.1\r\nHost: bench\r\n%s\r\n" % (path.encode(), headers))
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            self._idle.append((reader, writer, time.monotonic()))
            return int(head[9:12])

    def close(self) -> None:
        for _, writer, _ in self._idle:
            writer.close()


class Sample:
    __slots__ = ("late", "route", "seconds", "status")

    def __init__(self, route: str, status: str, seconds: float, late: float) -> None:
        self.route, self.status, self.seconds, self.late = route, status, seconds, late


async def offer(
    url: str, requests: Requests | HealthOnly, *, rate: float, seconds: float, drain: float = 30
) -> list[Sample]:
    """Send at ``rate`` per second on a fixed schedule for ``seconds``; then wait up to ``drain`` s for answers.

    A request still unanswered then counts as ``unanswered``, with the time it had waited.
    """
    parts = httpx.URL(url)
    http = Http(parts.host, parts.port or 80)
    samples: list[Sample] = []
    pending: dict[asyncio.Task[None], tuple[str, float]] = {}

    async def one(name: str, path: str, headers: bytes, due: float) -> None:
        sent = time.perf_counter()
        try:
            status = str(await http.get(path, headers))
        except (OSError, asyncio.IncompleteReadError, ValueError) as e:
            status = type(e).__name__
        samples.append(Sample(name, status, time.perf_counter() - due, sent - due))

    started = time.perf_counter()
    for i in range(int(rate * seconds)):
        due = started + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        name, path, headers = requests.next()
        task = asyncio.create_task(one(name, path, headers, due))
        pending[task] = (name, due)
        task.add_done_callback(lambda t: pending.pop(t, None))
    if pending:
        await asyncio.wait(list(pending), timeout=drain)
    now = time.perf_counter()
    for task, (name, due) in list(pending.items()):
        task.cancel()
        samples.append(Sample(name, "unanswered", now - due, 0.0))
    http.close()
    return samples


async def calibrate(url: str, requests: Requests, server: int, n: int) -> None:
    """Each route alone, one request at a time: its latency unloaded and the server's CPU per request."""
    parts = httpx.URL(url)
    http = Http(parts.host, parts.port or 80, limit=1)
    print(f"each route alone, {n} requests one at a time (ms; server CPU per request; the rate one core allows):")
    for name in requests.routes:
        batch = [requests.of(name) for _ in range(n)]
        cpu = CpuClock(server)
        times = []
        for _, path, headers in batch:
            started = time.perf_counter()
            await http.get(path, headers)
            times.append(time.perf_counter() - started)
        per = 1000 * cpu.used()["server"] / n
        q = quantiles(times)
        print(f"  {name:<30} p50 {q['p50']:6.1f}  p99 {q['p99']:6.1f}  CPU {per:6.2f} ms  ~{1000 / per:5,.0f}/s")
    http.close()


class CpuClock:
    """CPU seconds used by the server, this process (the client) and all of PostgreSQL; the machine\'s busy share."""

    def __init__(self, server: int) -> None:
        self._server = server
        self._tick = os.sysconf("SC_CLK_TCK")
        self._start = self._read()

    def _read(self) -> dict[str, float]:
        client = os.times()
        found = {"server": self._process(self._server), "client": client.user + client.system, "postgres": 0.0}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue
            if text.partition("(")[2].startswith("postgres"):
                found["postgres"] += self._ticks(text)
        fields = [float(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        found["machine_busy"] = (sum(fields) - fields[3] - fields[4]) / self._tick
        found["machine_all"] = sum(fields) / self._tick
        return found

    def _process(self, pid: int) -> float:
        """The server and its children (uvicorn's worker processes with --server-workers above 1)."""
        parents: dict[int, int] = {}
        ticks: dict[int, float] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue
            child = int(stat.parent.name)
            parents[child] = int(text.rpartition(")")[2].split()[1])
            ticks[child] = self._ticks(text)
        family = {pid}
        grown = True
        while grown:
            more = {child for child, parent in parents.items() if parent in family} - family
            family |= more
            grown = bool(more)
        return sum(ticks.get(member, 0.0) for member in family)

    def _ticks(self, stat: str) -> float:
        fields = stat.rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / self._tick  # utime, stime

    def used(self) -> dict[str, float]:
        end = self._read()
        return {k: end[k] - self._start[k] for k in end}


def quantiles(values: list[float]) -> dict[str, float]:
    q = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
    return {"p50": q[49] * 1000, "p95": q[94] * 1000, "p99": q[98] * 1000, "max": max(values) * 1000}


def report(samples: list[Sample], elapsed: float, rate: float, cpu: dict[str, float]) -> None:
    ok = [s.seconds for s in samples if s.status.startswith("2")]
    statuses = collections.Counter(s.status for s in samples)
    answered = sum(n for status, n in statuses.items() if status.isdigit())
    print(
        f"offered {rate:,.0f}/s: {len(samples):,} requests, {answered:,} answered in {elapsed:.1f} s "
        f"({answered / elapsed:,.0f}/s); statuses {dict(sorted(statuses.items()))}"
    )
    server = cpu["server"]
    print(
        f"CPU while measured: server {server:.1f} s ({server / elapsed:.0%} of a core, "
        f"{1000 * server / max(answered, 1):.2f} ms per answer), client {cpu['client']:.1f} s, "
        f"PostgreSQL (all clients) {cpu['postgres']:.1f} s; machine busy {cpu['machine_busy'] / cpu['machine_all']:.0%}"
    )
    late = quantiles([s.late for s in samples])
    print(f"client lag behind schedule at send: p50 {late['p50']:.2f} ms, p99 {late['p99']:.2f} ms")
    all_q = quantiles([s.seconds for s in samples])
    print("all (ms):  " + _row(all_q, len(samples)) + f"   (2xx only: p99 {quantiles(ok)['p99']:.1f})")
    for name, *_ in MIX:
        mine = [s.seconds for s in samples if s.route == name]
        if mine:
            errors = sum(1 for s in samples if s.route == name and not s.status.startswith("2"))
            print(f"  {name:<30}" + _row(quantiles(mine), len(mine)) + (f"  errors {errors}" if errors else ""))


def _row(q: dict[str, float], n: int) -> str:
    return f"n {n:>6,}  p50 {q['p50']:6.1f}  p95 {q['p95']:6.1f}  p99 {q['p99']:6.1f}  max {q['max']:7.1f}"


# --- the run ---------------------------------------------------------------------------------------


def serve(args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "ADDVALUE_DATABASE_URL": args.database_url,
        "ADDVALUE_DATABASE_SCHEMA": args.schema,
        "ADDVALUE_MASTER_KEY": base64.b64encode(master_key(args.schema)).decode(),
        "ADDVALUE_JWT_SECRET": SECRET,
        "ADDVALUE_PORT": str(port),
        "ADDVALUE_LOG_LEVEL": "warning",
        "ADDVALUE_SERVE_PROJECTIONS": "false",
        # The per-person quota (1,000 an hour by default) would refuse the bench's repeat callers.
        "ADDVALUE_API_REQUESTS_PER_HOUR": "100000000",
    }
    command = [sys.executable, "-m", "entrypoints.cli", "serve", "--workers", str(args.server_workers)]
    server = subprocess.Popen(command, env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise SystemExit("service did not become ready")


def profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """py-spy over the server for the measured window: collapsed stacks of the thread holding the GIL."""
    spy = os.environ.get("PY_SPY", "py-spy")
    command = [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200"]
    command += ["--format", "raw", "--gil", "--nonblocking", "--subprocesses", "--output", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)


def top_costs(collapsed: Path, n: int = 20) -> None:
    """Share of the GIL holder's samples: under each of our functions (inclusive), and in each function itself."""
    inclusive: collections.Counter[str] = collections.Counter()
    itself: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, times = line.rpartition(" ")
        frames = stack.split(";")
        total += int(times)
        itself[frames[-1]] += int(times)
        for frame in set(frames):
            if any(f"({package}/" in frame for package in ("entrypoints", "application", "adapters", "domain")):
                inclusive[frame] += int(times)
    print(f"py-spy: {total:,} samples of the thread holding the GIL; inclusive share, our functions:")
    for frame, samples in inclusive.most_common(n):
        print(f"  {100 * samples / total:5.1f}%  {frame[:150]}")
    print("self share, any function:")
    for frame, samples in itself.most_common(n // 2):
        print(f"  {100 * samples / total:5.1f}%  {frame[:150]}")


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--schema", default="bench_api")
    parser.add_argument("--fresh", action="store_true", help="drop the schema's data and generate it again")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--active", type=float, default=0.3, help="share of the days each person is active")
    parser.add_argument("--max-events", type=int, default=6, help="events on an active day: 2 to this")
    parser.add_argument(
        "--workers", type=int, default=2, help="processes computing the daily indices, beside the ingestion"
    )
    parser.add_argument(
        "--server-workers", type=int, default=2, help="uvicorn worker processes of the server (serve --workers)"
    )
    parser.add_argument("--rate", type=float, default=500, help="requests per second offered")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=10, help="seconds at --rate before measuring")
    parser.add_argument("--profile", action="store_true", help="sample the server with py-spy while measuring")
    parser.add_argument("--routes", help="comma-separated route names: only these, in their MIX proportions")
    parser.add_argument("--calibrate", type=int, default=100, help="requests per route sent one at a time (0: none)")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="then GET /health at --rate for --seconds on the same server: the HTTP stack's own CPU per answer",
    )
    args = parser.parse_args()

    plan, generation = generate(args)
    size = data_size(args.database_url, args.schema)
    if not (args.seconds or args.calibrate):  # only the data (bench/pages.py serves it)
        describe(plan, size, generation, args.schema)
        return
    server, url = serve(args)
    spy = None
    try:
        requests = Requests(plan, random.Random(5), set(args.routes.split(",")) if args.routes else None)
        asyncio.run(offer(url, requests, rate=args.rate, seconds=args.warmup))
        describe(plan, size, generation, args.schema)
        if args.calibrate:
            asyncio.run(calibrate(url, requests, server.pid, args.calibrate))
        out = Path(f"/tmp/bench_api_{os.getpid()}.txt")
        spy = profile(server.pid, args.seconds, out) if args.profile else None
        cpu = CpuClock(server.pid)
        started = time.perf_counter()
        samples = asyncio.run(offer(url, requests, rate=args.rate, seconds=args.seconds))
        elapsed = time.perf_counter() - started
        used = cpu.used()
        if args.floor:
            floor_cpu = CpuClock(server.pid)
            floor_started = time.perf_counter()
            floor = asyncio.run(offer(url, HealthOnly(), rate=args.rate, seconds=args.seconds))
            floor_elapsed, floor_used = time.perf_counter() - floor_started, floor_cpu.used()
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(
        f"load: server with {args.server_workers} worker process(es); warm-up {args.warmup:.0f} s, then "
        f"{args.seconds:.0f} s measured; latency from the scheduled send"
    )
    report(samples, elapsed, args.rate, used)
    if args.floor:
        print("floor: GET /health (no token, no quota, no access log, no database) at the same rate, same server")
        report(floor, floor_elapsed, args.rate, floor_used)
    if spy is not None:
        spy.wait(timeout=120)
        top_costs(out)


def describe(plan: Plan, size: dict[str, int], generation: float, schema: str) -> None:
    python = platform.python_version()
    print(f"machine: {platform.machine()}, {_cpu_model()}, {os.cpu_count()} cores, Python {python}")
    print(
        f"data: {plan.users:,} people x {plan.days} days ({plan.first_day} to {plan.last_day}), "
        f"{size['person_days']:,} active person-days, {size['events']:,} catalog events, "
        f"{size['bytes'] / 2**20:,.0f} MiB in {schema}; generated in {generation / 60:.1f} min (all runs)"
    )


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
