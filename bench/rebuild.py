"""Rebuild benchmark: replay the whole history into every projection, on PostgreSQL or SQLite.

Loads --events catalog events into a fresh schema (or a fresh SQLite file)
through the ingestion use case (no HTTP), then reports, in the same run:

- the floors: reading the events table alone in notification order, and
  reading plus decrypting and decoding every stored event without applying it;
- each projection rebuilt alone (unless --one-pass-only);
- all projections rebuilt in one pass (``addvalue projections rebuild --all``).

Each figure is catalog events/s and stored events (notifications)/s by the
wall clock, and this process's CPU time per stored event (``time.process_time``:
repeatable on a busy machine, but the database server's CPU is not in it).

The rebuilds run with the collector settings of ``addvalue projections rebuild``
(entrypoints.runtime.tune_for_serving), the loaded history frozen out of its scans.

Two shapes of history:

- default, device-shaped: one person per batch of 100 (one stored event holds
  ~19 catalog events of one session);
- ``--mixed``, as server-side sources write: every event of a batch from a
  different one of --users people, so one catalog event per stored event.

    .venv/bin/python bench/rebuild.py --events 300000
    .venv/bin/python bench/rebuild.py --events 300000 --mixed --users 4000
    .venv/bin/python bench/rebuild.py --events 300000 --mixed --database-url sqlite:///

``--repeat N`` runs the one-pass rebuild N times on the same history (compare
the least CPU of them on a busy machine); ``--ab`` alternates each with one
that decrypts and decodes every stored event in full, as rebuilds did before
they skipped the events no projection reads and decoded sessions' events
into the projections' lighter shapes.
"""

from __future__ import annotations

import cProfile
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.database_url import parse_database_url  # noqa: E402
from application.principals import Principal  # noqa: E402
from application.read_models.projections import REBUILD_PAGE_MAX, catch_up_together  # noqa: E402
from application.store import log_pages  # noqa: E402
from bench.options import benchmark_parser  # noqa: E402
from entrypoints.bootstrap import bootstrap  # noqa: E402
from entrypoints.container import Container  # noqa: E402
from entrypoints.runtime import started, tune_for_serving  # noqa: E402
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
    parser.add_argument("--mixed", action="store_true", help="one person per stored event (server-side sources)")
    parser.add_argument("--one-pass-only", action="store_true", help="skip rebuilding each projection alone")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the one-pass rebuild to FILE")
    parser.add_argument("--repeat", type=int, default=1, help="run the one-pass rebuild this many times")
    parser.add_argument(
        "--page-sizes",
        default=str(REBUILD_PAGE_MAX),
        help="comma-separated most stored events per page of the one-pass rebuild (pages also hold at most"
        " REBUILD_PAGE_BYTES of stored state), alternated within each repeat; default: a rebuild's",
    )
    parser.add_argument(
        "--ab",
        action="store_true",
        help="alternate the repeats: decoding only what the projections read, then every event in full (as before)",
    )
    args = parser.parse_args()
    with _container(args.database_url) as container:
        loaded = _load(container, args.events, args.users, mixed=args.mixed)
        # As `addvalue projections rebuild` runs (entrypoints/cli/projections.py): the service's collector
        # thresholds, and what exists now frozen out of the collector's scans. That process holds no loaded
        # history; this one does, and with the default thresholds its full collections scanned it again and
        # again: 33.5 s of a 59.6 s pass over a million mixed events (docs/performance.md, 2026-12-05).
        tune_for_serving()
        started()
        stored = container.store.recorder.max_notification_id() or 0
        shape = "mixed: one person per stored event" if args.mixed else "device: one person per batch of 100"
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        print(f"load average before the rebuilds: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"history ({shape}): {loaded:,} catalog events in {stored:,} stored events, {args.users:,} people")
        measure = _reporter(loaded, stored)
        measure("floor: SELECT in notification order", lambda: _read_all(container))
        measure("floor: SELECT + decrypt + decode", lambda: _read_all(container, decode=True))
        if not args.one_pass_only:
            for name, projection in container.projections.items():
                measure(f"rebuild {name} alone", projection.rebuild)
        projections = list(container.projections.values())
        reads = {p.name: (p.reads, p.shapes) for p in projections}
        sizes = [int(size) for size in args.page_sizes.split(",")]
        for run in range(args.repeat * (2 if args.ab else 1) * len(sizes)):
            size = sizes[run % len(sizes)]
            every = args.ab and (run // len(sizes)) % 2 == 1
            for projection in projections:
                projection.reads, projection.shapes = ((object,), {}) if every else reads[projection.name]
            pages = _PageClock()
            measure(
                f"rebuild all in one pass (addvalue projections rebuild --all), pages of up to {size:,}"
                + (", decoding every event in full" * every),
                partial(
                    catch_up_together, container.store, projections, page_size=size, rebuild=True, on_progress=pages
                ),
                profile=args.profile,
            )
            print(f"  as the read models grow: {pages.summary()}")


def _reporter(loaded: int, stored: int) -> Callable[..., None]:
    def measure(label: str, run: Callable[[], Any], profile: str | None = None) -> None:
        cpu, wall = time.process_time(), time.perf_counter()
        if profile:
            cProfile.runctx("run()", globals(), {"run": run}, profile)
        else:
            run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"{label}: {wall:.1f} s, {loaded / wall:,.0f} catalog events/s, {stored / wall:,.0f} stored events/s; "
            f"CPU {cpu:.1f} s = {cpu / stored * 1e6:,.1f} µs per stored event "
            f"({loaded / cpu:,.0f} catalog events per CPU second); load {os.getloadavg()[0]:.2f}"
        )

    return measure


class _PageClock:
    """This process's CPU time at each page of a rebuild: does a stored event cost more as the read models grow?"""

    def __init__(self) -> None:
        self.marks: list[tuple[int, float]] = [(0, time.process_time())]

    def __call__(self, position: int, _target: int) -> None:
        self.marks.append((position, time.process_time()))

    def summary(self) -> str:
        """CPU µs per stored event in each fifth of the log, first to last."""
        end = self.marks[-1][0] or 1
        fifths = []
        for k in range(5):
            inside = [m for m in self.marks if k * end / 5 <= m[0] <= (k + 1) * end / 5]
            if len(inside) < 2:  # pages larger than a fifth of the log
                fifths.append("-")
                continue
            (p0, c0), (p1, c1) = inside[0], inside[-1]
            fifths.append(f"{(c1 - c0) / max(p1 - p0, 1) * 1e6:,.1f}")
        return "CPU µs per stored event in each fifth of the log: " + " / ".join(fifths)


def _read_all(container: Container, *, decode: bool = False) -> None:
    recorder, mapper = container.store.recorder, container.store.mapper
    stop = recorder.max_notification_id() or 0
    for page in log_pages(recorder.select_notifications, 1, stop=stop, size=1000):
        if decode:
            for notification in page:
                mapper.to_domain_event(notification)


def _load(container: Container, events: int, users: int, *, mixed: bool) -> int:
    rng = random.Random(3)
    now = datetime.now(UTC) - timedelta(minutes=1)
    people = [uuid.uuid4() for _ in range(users)]
    started = time.perf_counter()
    for first in range(0, users, 1000):
        consents = [consent(u, analytics=True, at=now - timedelta(days=28)) for u in people[first : first + 1000]]
        container.ingestion.ingest(consents, sent_at=None, principal=SERVICE)
    loaded = users

    def one(user: uuid.UUID) -> bytes:
        at = now - timedelta(days=rng.randrange(28), minutes=rng.randrange(600))
        name, props = rng.choice(KINDS)
        return event(name, user, props, at=at, session_id=f"s-{user.hex[:6]}-{at:%Y%m%d}")

    while loaded < events:
        group = []
        for _ in range(10):
            if mixed:
                batch = [one(rng.choice(people)) for _ in range(100)]
            else:
                user = rng.choice(people)
                at = now - timedelta(days=rng.randrange(28), minutes=rng.randrange(600))
                session = f"s-{user.hex[:6]}-{at:%Y%m%d}"
                batch = [
                    event(n, user, p, at=at, session_id=session) for n, p in (rng.choice(KINDS) for _ in range(100))
                ]
            group.append(container.ingestion.prepare(batch, sent_at=None, principal=SERVICE))
        container.ingestion.record(group)
        loaded += 1000
        if loaded % 100_000 < 1000:
            print(f"loaded {loaded:,} events ({loaded / (time.perf_counter() - started):,.0f}/s)", file=sys.stderr)
    return loaded


@contextmanager
def _container(url: str) -> Iterator[Container]:
    """The service on a fresh schema (PostgreSQL) or in a fresh directory (``sqlite:///``), removed afterwards."""
    if url.startswith("sqlite:"):
        with tempfile.TemporaryDirectory(prefix="rebuild-") as workdir:
            yield from _built(parse_database_url(f"sqlite:///{workdir}/addvalue.db"))
        return
    schema = f"rebuild_{uuid.uuid4().hex[:8]}"
    try:
        yield from _built(parse_database_url(url, schema=schema))
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.execute(f"DROP SCHEMA IF EXISTS {schema}_keys CASCADE")


def _built(database: Any) -> Iterator[Container]:
    container = bootstrap(Settings(database=database, master_key=os.urandom(32), jwt_secret="b" * 40))
    try:
        yield container
    finally:
        container.close()


if __name__ == "__main__":
    main()
