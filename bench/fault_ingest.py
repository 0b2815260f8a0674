"""Fault injection: SIGKILL PostgreSQL again and again during ingest, then check nothing was lost or doubled.

The ingestion issue's target: "kill PostgreSQL repeatedly during ingest; 0
acknowledged events lost, 0 duplicates after client retries, every request
answered 2xx or 5xx/503 — no partial batches."

The run never touches the machine's shared cluster. It makes a private
PostgreSQL cluster (bench/pg_cluster.py) on a free port, starts
``addvalue serve`` against it, and drives it from this process:

- --concurrency client tasks send batches of --batch events with unique
  event ids, and resend the same bytes on 5xx, timeouts and connection errors
  (honouring Retry-After) until a 200, within a retry budget;
- a killer task SIGKILLs the postmaster every --kill-min..--kill-max seconds
  (alternately only the postmaster, and the postmaster with every backend),
  and restarts it after --down-min..--down-max seconds;
- at the end, with the database up, the ingest ledger and the session
  streams (decrypted with the run's master key, counted per event id) are
  compared with what was acknowledged.

Any violation is printed and makes the exit status 1.

    .venv/bin/python bench/fault_ingest.py              # 60 s, the defaults
    .venv/bin/python bench/fault_ingest.py --seconds 20 --min-kills 2
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.api_access.tokens import JwtTokens  # noqa: E402
from adapters.database_url import parse_database_url  # noqa: E402
from bench.pg_cluster import ClusterError, KillMode, PgCluster, free_port  # noqa: E402
from domain.session import Session  # noqa: E402
from entrypoints.bootstrap import bootstrap  # noqa: E402
from entrypoints.settings import Settings  # noqa: E402
from tests.fakes import consent, event  # noqa: E402

SECRET = "fault-secret-" + "f" * 40


# -- what the run records ---------------------------------------------------------------------
@dataclass
class Batch:
    """One batch as sent (same bytes on every attempt) and how it ended."""

    event_ids: list[uuid.UUID]
    body: bytes
    attempts: int = 0
    report: dict[str, Any] | None = None  # the final 200's body
    gave_up: str | None = None  # why the client stopped without a 200


@dataclass
class Kill:
    """One injected crash: when, how, and how long the database was away."""

    at: float
    mode: KillMode
    processes: int
    down_seconds: float = 0.0
    restart_seconds: float = 0.0
    up_at: float = float("inf")  # when the restarted server accepted connections


@dataclass
class Run:
    """Everything observed, for the checks and the summary."""

    started: float = field(default_factory=time.monotonic)
    batches: list[Batch] = field(default_factory=list)
    # (when the answer came, status or error kind, seconds the request took)
    answers: list[tuple[float, str, float]] = field(default_factory=list)
    # Bodies of answers that are neither 200 nor 503, as evidence.
    odd_answers: list[str] = field(default_factory=list)
    kills: list[Kill] = field(default_factory=list)

    def note(self, outcome: str, took: float) -> None:
        self.answers.append((time.monotonic(), outcome, took))


# -- client side ---------------------------------------------------------------------------------
def encode_batch(events: list[bytes]) -> bytes:
    return b'{"batch":[' + b",".join(events) + b"]}"


def activation_batch(users: list[uuid.UUID], size: int, rng: random.Random) -> Batch:
    """``size`` activation events of consenting users, each with an event id we keep."""
    now = datetime.now(UTC)
    ids = [uuid.uuid4() for _ in range(size)]
    events = []
    for event_id in ids:
        user = rng.choice(users)
        props = {"activation_id": f"a-{rng.randrange(10**6)}", "round": rng.randint(1, 8), "duration_seconds": 60}
        events.append(
            event("activation_round_completed", user, props, at=now, event_id=event_id, session_id=f"s-{user.hex[:8]}")
        )
    return Batch(event_ids=ids, body=encode_batch(events))


def consent_batch(users: list[uuid.UUID]) -> Batch:
    events = [consent(u, analytics=True) for u in users]
    ids = [uuid.UUID(msgspec.json.decode(e)["event_id"]) for e in events]
    return Batch(event_ids=ids, body=encode_batch(events))


async def send_until_acknowledged(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], batch: Batch, run: Run, args: argparse.Namespace
) -> None:
    """Send the batch until a 200, resending the same bytes as a well-behaved client would.

    A 4xx is final: resending the same bytes cannot change it. Anything else is
    retried, so a wrong status (a 500, say) is recorded and still does not
    leave the batch unacknowledged.
    """
    budget_ends = time.monotonic() + args.retry_seconds
    while True:
        batch.attempts += 1
        started = time.monotonic()
        wait = 0.2
        try:
            response = await client.post(f"{url}/v1/events", content=batch.body, headers=headers)
        except httpx.TimeoutException:
            run.note("timeout", time.monotonic() - started)
        except httpx.TransportError as e:
            run.note(f"error:{type(e).__name__}", time.monotonic() - started)
        else:
            status = response.status_code
            run.note(str(status), time.monotonic() - started)
            if status == 200:
                batch.report = response.json()
                return
            if status != 503:
                run.odd_answers.append(f"{status} {response.headers.get('retry-after')!r} {response.text[:300]}")
            if 400 <= status < 500:
                batch.gave_up = f"answered {status}"
                return
            wait = min(float(response.headers.get("retry-after", "1") or 1), 5.0)
        if batch.attempts >= args.retry_attempts or time.monotonic() > budget_ends:
            batch.gave_up = f"retry budget spent after {batch.attempts} attempts"
            return
        # Jitter, so the clients do not come back in lock step after an outage.
        await asyncio.sleep(wait * random.uniform(0.5, 1.0))


async def clients(url: str, token: str, users: list[uuid.UUID], run: Run, args: argparse.Namespace) -> None:
    stop_at = time.monotonic() + args.seconds
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def client_task(client: httpx.AsyncClient, number: int) -> None:
        rng = random.Random(args.seed * 1000 + number)
        while time.monotonic() < stop_at:
            batch = activation_batch(users, args.batch, rng)
            run.batches.append(batch)
            await send_until_acknowledged(client, url, headers, batch, run, args)

    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(timeout=args.request_timeout, limits=limits) as client:
        await asyncio.gather(*(client_task(client, n) for n in range(args.concurrency)))


async def killer(cluster: PgCluster, run: Run, args: argparse.Namespace, load_done: asyncio.Event) -> None:
    """Crash the database at random intervals while the load runs; leave it up at the end."""
    rng = random.Random(args.seed)
    modes: list[KillMode] = ["postmaster", "all"]
    while True:
        try:
            await asyncio.wait_for(load_done.wait(), timeout=rng.uniform(args.kill_min, args.kill_max))
            return
        except TimeoutError:
            pass
        mode = modes[len(run.kills) % 2]
        at = time.monotonic()
        killed = await asyncio.to_thread(cluster.crash, mode)
        kill = Kill(at=at, mode=mode, processes=len(killed))
        run.kills.append(kill)
        await asyncio.sleep(rng.uniform(args.down_min, args.down_max))
        kill.down_seconds = time.monotonic() - at
        kill.restart_seconds = await asyncio.to_thread(cluster.start)
        kill.up_at = time.monotonic()


# -- service --------------------------------------------------------------------------------------
def start_service(cluster: PgCluster, port: int, log_path: Path, master_key: bytes) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ADDVALUE_DATABASE_URL": cluster.url,
        "ADDVALUE_MASTER_KEY": base64.b64encode(master_key).decode(),
        "ADDVALUE_JWT_SECRET": SECRET,
        "ADDVALUE_PORT": str(port),
        # Projections would only add load and log lines unrelated to ingest.
        "ADDVALUE_PROJECTION_INTERVAL_SECONDS": "3600",
        "ADDVALUE_LOG_LEVEL": "warning",
    }
    env.pop("ADDVALUE_DATABASE_SCHEMA", None)  # public, as the checks below assume
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli", "serve"], env=env, cwd=ROOT, stdout=log, stderr=log
        )


def wait_ready(url: str, timeout: float) -> float | None:
    """Seconds until /ready answers 200, or None if it did not within ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if httpx.get(f"{url}/ready", timeout=max(1.0, timeout - (time.monotonic() - started))).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return None


def service_log_events(log_path: Path) -> tuple[Counter[str], list[str]]:
    """Counts of the service's log events, and the error lines (tracebacks included)."""
    counts: Counter[str] = Counter()
    errors: list[str] = []
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            counts["(not JSON)"] += 1
            errors.append(line)
            continue
        counts[str(record.get("event"))] += 1
        if record.get("event") != "storage.unavailable" and record.get("level") in ("error", "critical"):
            errors.append(line)
    return counts, errors


# -- checks ---------------------------------------------------------------------------------------
@dataclass
class Stored:
    """What the database holds at the end."""

    ledger: set[uuid.UUID]
    # How many times each event id occurs in the session streams (decrypted).
    tracked: Counter[uuid.UUID]
    tracked_rows: int
    rows_by_topic: dict[str, int]


def tracked_event_ids(domain_event: object) -> list[uuid.UUID]:
    """The catalog event ids a session event carries: one per ``EventTracked``, many per ``EventsTracked``."""
    if not isinstance(domain_event, Session.Event) or isinstance(domain_event, Session.Created):
        return []
    carried = getattr(domain_event, "events", None)
    if carried is None:
        carried = (domain_event,) if hasattr(domain_event, "event") else ()
    return [tracked.event.event_id for tracked in carried]


def read_store(cluster: PgCluster, master_key: bytes) -> Stored:
    """The ledger as stored, and every session event decrypted with the run's master key.

    A stored row of the session stream may carry several catalog events (one
    ``EventsTracked`` per session per write), so rows cannot be counted for
    events: each is decoded through the service's own mapper, and event ids
    are counted one by one. That also tells *which* id is doubled or missing.
    """
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        ledger = {row[0] for row in conn.execute("SELECT event_id FROM public.addvalue_ingested_event_ids")}
        rows = conn.execute("SELECT topic, count(*) FROM public.addvalue_events GROUP BY topic").fetchall()
        topics: dict[str, int] = {str(topic): int(n) for topic, n in rows}
    settings = Settings(database=parse_database_url(cluster.url), master_key=master_key, jwt_secret=SECRET)
    container = bootstrap(settings)
    tracked: Counter[uuid.UUID] = Counter()
    carrying = 0
    try:
        position = 0
        while page := container.store.recorder.select_notifications(position + 1, 1000):
            for notification in page:
                ids = tracked_event_ids(container.store.mapper.to_domain_event(notification))
                carrying += bool(ids)
                tracked.update(ids)
            position = page[-1].id
    finally:
        container.close()
    return Stored(ledger=ledger, tracked=tracked, tracked_rows=carrying, rows_by_topic=topics)


def check(run: Run, consents: list[Batch], stored: Stored, violations: list[str]) -> dict[str, int]:
    """Compare what was acknowledged with what is stored; append what is wrong to ``violations``."""
    everything = consents + run.batches
    acknowledged = [b for b in everything if b.report is not None]
    acked_ids = {i for b in acknowledged for i in b.event_ids}
    sent_ids = {i for b in everything for i in b.event_ids}
    for b in acknowledged:
        assert b.report is not None
        r = b.report
        if r["accepted"] + r["duplicates"] != len(b.event_ids) or r["rejected"] or r["not_collected"]:
            violations.append(f"partial batch: {len(b.event_ids)} events answered {r}")
    lost_from_ledger = acked_ids - stored.ledger
    if lost_from_ledger:
        violations.append(
            f"{len(lost_from_ledger)} acknowledged events are not in the ledger (lost), "
            f"e.g. {sorted(lost_from_ledger)[:3]}"
        )
    lost_from_sessions = acked_ids - set(stored.tracked)
    if lost_from_sessions:
        violations.append(
            f"{len(lost_from_sessions)} acknowledged events are in no session stream (lost), "
            f"e.g. {sorted(lost_from_sessions)[:3]}"
        )
    doubled = {i: n for i, n in stored.tracked.items() if n > 1}
    if doubled:
        violations.append(f"{len(doubled)} events are stored more than once, e.g. {list(doubled.items())[:3]}")
    total = sum(stored.tracked.values())
    if total != len(acked_ids):
        excess = total - len(acked_ids)
        violations.append(f"{total} tracked events stored for {len(acked_ids)} acknowledged ({excess:+d})")
    phantom = (stored.ledger | set(stored.tracked)) - sent_ids
    if phantom:
        violations.append(f"{len(phantom)} stored ids were never sent by this run")
    if stored.ledger != set(stored.tracked):
        violations.append(
            f"ledger and session streams disagree: {len(stored.ledger - set(stored.tracked))} ids only in the ledger, "
            f"{len(set(stored.tracked) - stored.ledger)} only in the streams"
        )
    gave_up = [b for b in everything if b.report is None]
    if gave_up:
        reasons = Counter(b.gave_up for b in gave_up)
        violations.append(f"{len(gave_up)} batches never acknowledged: {dict(reasons)}")
    return {
        "batches": len(everything),
        "acknowledged batches": len(acknowledged),
        "acknowledged events": len(acked_ids),
        "sent events": len(sent_ids),
        "ledger ids": len(stored.ledger),
        "tracked events (decrypted)": total,
        "session rows carrying them": stored.tracked_rows,
        "lost": len(lost_from_ledger | lost_from_sessions),
        "stored twice": len(doubled),
        "stored without an ack": len(((stored.ledger | set(stored.tracked)) & sent_ids) - acked_ids),
        "duplicates reported on resends": sum(b.report["duplicates"] for b in acknowledged if b.report),
        "batches resent": sum(1 for b in everything if b.attempts > 1),
        "most attempts for one batch": max((b.attempts for b in everything), default=0),
    }


def percentiles(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"max {values[0]:.2f} s"
    q = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {q[49]:.2f} s, p95 {q[94]:.2f} s, max {max(values):.2f} s"


def print_summary(
    run: Run, figures: dict[str, int], stored: Stored | None, args: argparse.Namespace, extra: dict[str, str]
) -> None:
    statuses = Counter(outcome for _, outcome, _ in run.answers)
    print(f"fault injection: {args.seconds:.0f} s of load, {args.concurrency} clients, batches of {args.batch}")
    print(f"kills: {len(run.kills)} ({Counter(k.mode for k in run.kills)})")
    edges = [k.at for k in run.kills] + [float("inf")]
    # "recovered": from the restarted server accepting connections to the service's next 200.
    print("  #  mode        at(s)  down(s)  restart(s)  recovered(s)  answers until the next kill")
    for n, kill in enumerate(run.kills):
        window = Counter(o for t, o, _ in run.answers if edges[n] <= t < edges[n + 1])
        first_ok = min((t for t, o, _ in run.answers if o == "200" and t >= kill.up_at), default=None)
        recovered = "-" if first_ok is None else f"{first_ok - kill.up_at:.2f}"
        print(
            f"  {n + 1:<2} {kill.mode:<10} {kill.at - run.started:6.1f}  {kill.down_seconds:7.2f}  "
            f"{kill.restart_seconds:10.2f}  {recovered:>12}  {dict(sorted(window.items()))}"
        )
    oks = sorted(t for t, o, _ in run.answers if o == "200" and t >= run.started)
    if len(oks) > 1:
        gap = max(b - a for a, b in itertools.pairwise(oks))
        print(f"longest time without a 200 during the load: {gap:.2f} s")
    print(f"answers: {dict(sorted(statuses.items()))} over {len(run.answers)} requests")
    for outcome in sorted(statuses):
        took = [t for _, o, t in run.answers if o == outcome]
        print(f"  {outcome}: {percentiles(took)}")
    for key, value in figures.items():
        print(f"{key}: {value}")
    if stored is not None:
        print(f"event rows by topic: {stored.rows_by_topic}")
    for label, text in extra.items():
        print(f"{label}: {text}")


# -- the run ----------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60, help="how long new batches are sent")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--kill-min", type=float, default=3.0, help="seconds between kills, at least")
    parser.add_argument("--kill-max", type=float, default=6.0)
    parser.add_argument("--down-min", type=float, default=0.5, help="seconds the database stays down, at least")
    parser.add_argument("--down-max", type=float, default=2.0)
    parser.add_argument("--min-kills", type=int, default=5, help="fewer kills than this fails the run")
    parser.add_argument("--request-timeout", type=float, default=60.0, help="a request unanswered after this hangs")
    parser.add_argument("--retry-attempts", type=int, default=40, help="attempts per batch before giving up")
    parser.add_argument("--retry-seconds", type=float, default=300.0, help="seconds per batch before giving up")
    parser.add_argument("--recovery-seconds", type=float, default=60.0, help="time allowed to be ready again")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep-log", action="store_true", help="keep the service log (its path is printed)")
    args = parser.parse_args()

    run = Run()
    violations: list[str] = []
    consents: list[Batch] = []
    figures: dict[str, int] = {}
    extra: dict[str, str] = {}
    stored: Stored | None = None
    log_dir = Path(tempfile.mkdtemp(prefix="addvalue-fault-"))
    log_path = log_dir / "service.log"
    master_key = os.urandom(32)  # kept: the checks decrypt the stored events
    cluster = PgCluster.create()
    service: subprocess.Popen[bytes] | None = None
    try:
        cluster.start()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        service = start_service(cluster, port, log_path, master_key)
        if wait_ready(url, 60) is None:
            raise SystemExit(f"the service did not become ready; log: {log_path.read_text()[-2000:]}")
        token = JwtTokens(SECRET, issuer="addvalue", audience="addvalue-analytics").mint("fault-bench", "service")

        # Consent first, with the database up: only consenting users' events are stored.
        users = [uuid.uuid4() for _ in range(args.users)]
        consents = [consent_batch(users[i : i + 500]) for i in range(0, len(users), 500)]

        async def load() -> None:
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            async with httpx.AsyncClient(timeout=args.request_timeout) as client:
                for batch in consents:
                    await send_until_acknowledged(client, url, headers, batch, run, args)
            run.started = time.monotonic()
            load_done = asyncio.Event()
            kill_task = asyncio.create_task(killer(cluster, run, args, load_done))
            try:
                await clients(url, token, users, run, args)
            finally:
                load_done.set()
                await kill_task

        asyncio.run(load())
        load_seconds = time.monotonic() - run.started

        # The database is up again: the service must come back by itself.
        if not cluster.running():
            cluster.start()
        recovered = wait_ready(url, args.recovery_seconds)
        extra["ready again after the last restart"] = "no" if recovered is None else f"{recovered:.2f} s"
        if recovered is None:
            violations.append(f"/ready did not answer 200 within {args.recovery_seconds:.0f} s of the last restart")
        probe = consent_batch([users[0]])
        asyncio.run(probe_once(url, token, probe, run, args))
        if probe.report is None or probe.report["accepted"] != 1:
            violations.append(f"a fresh batch after recovery was not accepted: {probe.report or probe.gave_up}")
        consents.append(probe)  # its consent event is tracked, like the others

        stored = read_store(cluster, master_key)
        figures = check(run, consents, stored, violations)
        acked = figures["acknowledged events"]
        rate = acked / load_seconds
        extra["throughput under faults"] = f"{rate:,.0f} acknowledged events/s over {load_seconds:.0f} s"
    except ClusterError as e:
        violations.append(f"the private cluster failed: {e}\n{cluster.log_tail()}")
    except BaseException:
        print(f"the run stopped; service log kept at {log_path}", file=sys.stderr)
        raise
    finally:
        if service is not None:
            alive = service.poll() is None
            service.terminate()
            try:
                service.wait(timeout=30)
            except subprocess.TimeoutExpired:
                service.kill()
                service.wait()
            if not alive:
                violations.append(f"the service process died during the run (exit {service.returncode})")
        cluster.remove()

    statuses = Counter(outcome for _, outcome, _ in run.answers)
    odd = {s: n for s, n in statuses.items() if s not in ("200", "503")}
    if odd:
        violations.append(f"answers other than 200/503: {odd}")
    for sample in run.odd_answers[:5]:
        violations.append(f"  e.g. {sample}")
    if len(run.kills) < args.min_kills:
        violations.append(f"only {len(run.kills)} kills (wanted at least {args.min_kills}): run longer")
    if log_path.exists():
        counts, errors = service_log_events(log_path)
        extra["service log events"] = str(dict(counts.most_common()))
        for line in errors[:5]:
            violations.append(f"service logged: {line[:1500]}")

    print_summary(run, figures, stored, args, extra)
    if args.keep_log or violations:
        print(f"service log: {log_path}")
    else:
        log_path.unlink(missing_ok=True)
        log_dir.rmdir()
    if violations:
        print(f"\nFAILED: {len(violations)} problem(s)")
        for v in violations:
            print(f"- {v}")
        return 1
    print("\nOK: 0 acknowledged events lost, 0 duplicates, every request answered 200 or 503")
    return 0


async def probe_once(url: str, token: str, batch: Batch, run: Run, args: argparse.Namespace) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=args.request_timeout) as client:
        await send_until_acknowledged(client, url, headers, batch, run, args)


if __name__ == "__main__":
    sys.exit(main())
