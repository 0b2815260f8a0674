"""Rebuild benchmark: replay the whole history into every projection, on PostgreSQL.

Loads --events catalog events (default 1,000,000) into a fresh schema through
the ingestion use case (device-shaped batches of 100, written in groups, no
HTTP), then rebuilds each projection from the start and reports how fast it
went: catalog events per second, and stored events (notifications) per second.

    .venv/bin/python bench/rebuild.py --events 1000000
"""

from __future__ import annotations

import os
import platform
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.database_url import parse_database_url  # noqa: E402
from application.principals import Principal  # noqa: E402
from application.read_models.projections import catch_up_together  # noqa: E402
from bench.options import benchmark_parser  # noqa: E402
from entrypoints.bootstrap import bootstrap  # noqa: E402
from entrypoints.settings import Settings  # noqa: E402
from tests.fakes import consent, event  # noqa: E402

SERVICE = Principal(subject="bench", role="service")
KINDS = [
    ("activation_round_completed", {"activation_id": "a", "round": 3, "duration_seconds": 60}),
    ("activation_mood_logged", {"activation_id": "a", "phase": "end", "mood": 7}),
    ("microact_created", {"microact_id": "m", "category": "kindness"}),
    ("post_liked", {"post_id": "p"}),
    ("wave_joined", {"wave_id": "w"}),
    ("wave_left", {"wave_id": "w", "duration_seconds": 300}),
]


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=2_000)
    args = parser.parse_args()

    schema = f"rebuild_{uuid.uuid4().hex[:8]}"
    settings = Settings(
        database=parse_database_url(args.database_url, schema=schema), master_key=os.urandom(32), jwt_secret="b" * 40
    )
    container = bootstrap(settings)
    rng = random.Random(3)
    now = datetime.now(UTC) - timedelta(minutes=1)
    users = [uuid.uuid4() for _ in range(args.users)]
    try:
        started = time.perf_counter()
        container.ingestion.ingest(
            [consent(u, analytics=True, at=now - timedelta(days=28)) for u in users], sent_at=None, principal=SERVICE
        )
        loaded = len(users)
        while loaded < args.events:
            group = []
            for _ in range(10):
                user = rng.choice(users)
                at = now - timedelta(days=rng.randrange(28), minutes=rng.randrange(600))
                session = f"s-{user.hex[:6]}-{at:%Y%m%d}"
                batch = [
                    event(name, user, props, at=at, session_id=session)
                    for name, props in (rng.choice(KINDS) for _ in range(100))
                ]
                group.append(container.ingestion.prepare(batch, sent_at=None, principal=SERVICE))
            container.ingestion.record(group)
            loaded += 1000
            if loaded % 100_000 < 1000:
                print(f"loaded {loaded:,} events ({loaded / (time.perf_counter() - started):,.0f}/s)", file=sys.stderr)
        notifications = container.store.recorder.max_notification_id() or 0
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        print(f"history: {loaded:,} catalog events in {notifications:,} stored events, {args.users:,} people, 28 days")
        print(f"load (ingestion use case, no HTTP): {loaded / (time.perf_counter() - started):,.0f} events/s")
        total = 0.0
        for name, projection in container.projections.items():
            started = time.perf_counter()
            result = projection.rebuild()
            seconds = time.perf_counter() - started
            total += seconds
            print(
                f"rebuild {name}: {seconds:.1f} s, {loaded / seconds:,.0f} catalog events/s, "
                f"{result.processed / seconds:,.0f} stored events/s"
            )
        print(f"all projections, one after another: {total:.1f} s, {loaded / total:,.0f} catalog events/s")
        started = time.perf_counter()
        catch_up_together(container.store, list(container.projections.values()), rebuild=True)
        together = time.perf_counter() - started
        print(
            f"all projections in one pass (addvalue projections rebuild --all): {together:.1f} s, "
            f"{loaded / together:,.0f} catalog events/s"
        )
    finally:
        container.close()
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
            conn.execute(f"DROP SCHEMA IF EXISTS {schema}_keys CASCADE")


if __name__ == "__main__":
    main()
