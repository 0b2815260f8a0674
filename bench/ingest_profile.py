"""Where a write's time goes: the ingestion use case under cProfile, without HTTP, on PostgreSQL.

Two service instances (as two serve workers) on a fresh schema take turns
recording groups of --requests batches of --batch events each, as the group
commit hands them over. --mixed: each event from any of --users people (a
server-side source); otherwise each batch is one person's (a phone). Prints
the recording rate (CPU seconds of this process and wall time) and the
functions where the time goes (in CPU seconds of this process, so other
work on the machine barely shows), with the function calls per event, so a
figure from bench/ingest.py can be explained per event.

    .venv/bin/python bench/ingest_profile.py --mixed --rounds 20
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.database_url import parse_database_url  # noqa: E402
from application.principals import Principal  # noqa: E402
from bench.options import benchmark_parser  # noqa: E402
from entrypoints.bootstrap import Container, bootstrap  # noqa: E402
from entrypoints.settings import Settings  # noqa: E402
from tests.fakes import consent, event  # noqa: E402

SERVICE = Principal(subject="bench", role="service")


def _batch(rng: random.Random, users: list[uuid.UUID], size: int, *, mixed: bool) -> list[bytes]:
    now = datetime.now(UTC)
    one = rng.choice(users)
    props = {"activation_id": "a-1", "round": 3, "duration_seconds": 60}
    people = [rng.choice(users) if mixed else one for _ in range(size)]
    return [event("activation_round_completed", p, props, at=now, session_id=f"s-{p.hex[:8]}") for p in people]


def _round(container: Container, rng: random.Random, users: list[uuid.UUID], args: argparse.Namespace) -> int:
    ingestion = container.ingestion
    prepared = [
        ingestion.prepare(_batch(rng, users, args.batch, mixed=args.mixed), sent_at=None, principal=SERVICE)
        for _ in range(args.requests)
    ]
    return sum(report.accepted for report in ingestion.record(prepared))


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--requests", type=int, default=32, help="batches per group (one write)")
    parser.add_argument("--rounds", type=int, default=20, help="writes per instance")
    parser.add_argument("--mixed", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--no-profile", dest="profile", action="store_false", help="the rate without cProfile")
    parser.add_argument("--save", help="also write the profile here (for pstats or snakeviz)")
    args = parser.parse_args()
    schema = f"profile_{uuid.uuid4().hex[:8]}"
    settings = Settings(
        database=parse_database_url(args.database_url, schema=schema), master_key=os.urandom(32), jwt_secret="b" * 40
    )
    workers = [bootstrap(settings), bootstrap(settings)]
    rng = random.Random(1)
    users = [uuid.uuid4() for _ in range(args.users)]
    try:
        for start in range(0, len(users), 500):
            workers[0].ingestion.ingest(
                [consent(u, analytics=True) for u in users[start : start + 500]], sent_at=None, principal=SERVICE
            )
        now = datetime.now(UTC)
        props = {"activation_id": "a-1", "round": 3, "duration_seconds": 60}
        for worker in workers:  # warm: each has every stream cached, as after a minute of serving
            for start in range(0, len(users), 500):
                warm = [
                    event("activation_round_completed", u, props, at=now, session_id=f"s-{u.hex[:8]}")
                    for u in users[start : start + 500]
                ]
                worker.ingestion.ingest(warm, sent_at=None, principal=SERVICE)
        # Timed in this process's CPU seconds, not wall ones: other work on the machine barely shows.
        profile, accepted = cProfile.Profile(time.process_time), 0
        cpu, wall = time.process_time(), time.perf_counter()
        if args.profile:
            profile.enable()
        for turn in range(2 * args.rounds):
            accepted += _round(workers[turn % 2], rng, users, args)
        profile.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        for worker in workers:
            worker.close()
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.execute(f"DROP SCHEMA IF EXISTS {schema}_keys CASCADE")
    shape = "mixed people per batch" if args.mixed else "one person per batch"
    print(f"{2 * args.rounds} writes of {args.requests} x {args.batch} events ({shape}), {args.users} people")
    label = "prepare+record under cProfile" if args.profile else "prepare+record"
    print(f"{label}: {accepted / wall:,.0f} events/s wall, {cpu / accepted * 1e6:.1f} µs CPU/event")
    if not args.profile:
        return
    if args.save:
        profile.dump_stats(args.save)
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    # Python function calls per event: a count, the same on a busy machine as on an idle one.
    print(f"function calls: {stats.total_calls / accepted:.0f} per event")  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)
    print(out.getvalue())


if __name__ == "__main__":
    main()
