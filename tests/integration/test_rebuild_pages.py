"""A rebuild in pages of any size gives the read models that one event at a time gives.

The views write a page's rows in one statement (PostgreSQL: one ``unnest`` per
table), which holds only if a page's rows are merged by key first; a history
where the same people, days, Waves and Activations recur within a page tests it.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from msgspec.structs import replace

from application.principals import Principal
from application.read_models.projections import catch_up_together
from application.store import read_topics
from entrypoints.bootstrap import Container
from tests.fakes import consent, event

SERVICE = Principal(subject="tests", role="service")
KINDS: list[tuple[str, dict[str, Any]]] = [
    ("activation_started", {"activation_id": "a1"}),
    ("activation_completed", {"activation_id": "a1", "duration_seconds": 60}),
    ("activation_mood_logged", {"activation_id": "a1", "phase": "end", "mood": 7}),
    ("microact_created", {"microact_id": "m", "category": "kindness"}),
    ("wave_joined", {"wave_id": "w1"}),
    ("wave_left", {"wave_id": "w1", "duration_seconds": 300}),
    ("wave_feedback_submitted", {"wave_id": "w1", "rating": 4}),
    ("post_liked", {"post_id": "p"}),
]


def history(container: Container, now: datetime, *, erase: bool = True) -> tuple[list[uuid.UUID], int]:
    """The people (the first erased) and how many catalog events the others sent (their consent included)."""
    rng = random.Random(22)
    people = [uuid.uuid4() for _ in range(6)]
    container.ingestion.ingest(
        [consent(p, analytics=True, at=now - timedelta(days=3)) for p in people], sent_at=None, principal=SERVICE
    )
    kept = len(people) - 1
    for _ in range(8):  # mixed batches (one person per event) and one person's batches, as both sources send
        if rng.random() < 0.5:
            batch = [(rng.choice(people), rng.choice(KINDS), rng.randrange(3)) for _ in range(12)]
        else:
            person, day = rng.choice(people), rng.randrange(3)
            batch = [(person, rng.choice(KINDS), day) for _ in range(12)]
        raw = [
            event(name, person, props, at=now - timedelta(days=day, minutes=rng.randrange(50)), session_id=f"s{day}")
            for person, (name, props), day in batch
        ]
        report = container.ingestion.ingest(raw, sent_at=None, principal=SERVICE)
        assert not report.rejected, report.rejected
        kept += sum(1 for person, _, _ in batch if person != people[0])
    if erase:
        container.erasure.erase(people[0], requested_by="test")
    return people, kept


def read_models(container: Container, people: list[uuid.UUID], now: datetime) -> tuple[Any, ...]:
    first, last = (now - timedelta(days=4)).date(), now.date()
    subjects = [container.keys.subject_for(p, create=False) for p in people]
    return (
        container.daily_counts_view.counts(),
        container.daily_counts_view.hourly(now - timedelta(days=4), now),
        container.live_activity.snapshot(now),
        [container.user_days.days_of(s, first, last) for s in subjects if s is not None],
        {d: container.user_days.day_totals(d) for d in (first + timedelta(days=i) for i in range(5))},
    )


def test_a_rebuild_in_pages_of_any_size_equals_one_event_at_a_time(container: Container) -> None:
    now = datetime.now(UTC) - timedelta(minutes=1)
    people, kept = history(container, now)
    projections = list(container.projections.values())
    found = {}
    for size in (1, 3, 50, 1000):
        result = catch_up_together(container.store, projections, page_size=size, rebuild=True)
        assert result.catalog_events == kept  # the erased person's events are redacted, not counted
        found[size] = read_models(container, people, now)
    assert found[1][0]  # something was counted
    assert found[1][3]
    for size in (3, 50, 1000):
        assert found[size] == found[1], size


def test_read_models_that_skip_events_and_decode_lighter_equal_those_that_decode_all_in_full(
    container: Container,
) -> None:
    now = datetime.now(UTC) - timedelta(minutes=1)
    people, kept = history(container, now, erase=False)
    projections = list(container.projections.values())
    catch_up_together(container.store, projections)
    for days_ago in (1, 2):  # closed days keep the erased person's counts in a rebuild (PlatformDay.Closed)
        container.jobs.run("close-day", (now - timedelta(days=days_ago)).date().isoformat())
    container.erasure.erase(people[0], requested_by="test")
    page = list(container.store.iter_log())
    reads = tuple(c for p in projections for c in p.reads)
    assert None in container.store.decode_page(page, reads)  # consents, sessions started: never decrypted

    for projection in projections:  # each alone, with only what it reads: the live views see the erasure
        projection.catch_up()
    live = read_models(container, people, now)
    skipping = catch_up_together(container.store, projections, page_size=50, rebuild=True)
    rebuilt = read_models(container, people, now)
    for projection in projections:
        projection.reads = (object,)  # decode every event, in full, as before events were skipped or decoded lighter
        projection.shapes = {}
    decoding_all = catch_up_together(container.store, projections, page_size=50, rebuild=True)

    assert read_models(container, people, now) == rebuilt
    # Per person, the live views forgot the erased person as the rebuild did (the daily counts, micro-acts
    # today among them, keep what was counted, by design).
    assert replace(live[2], microacts_today=0) == replace(rebuilt[2], microacts_today=0)
    assert live[3:] == rebuilt[3:]
    # The same events applied; rows of topics none of them reads are not even selected, so neither read nor
    # counted as redacted.
    assert (skipping.catalog_events, skipping.position) == (decoding_all.catalog_events, decoding_all.position)
    read = [n for n in page if n.topic in read_topics(reads)]
    assert 0 < len(read) < len(page)
    assert skipping.processed == len(read)
    assert decoding_all.processed == len(page)
    assert 0 < skipping.redacted_skipped < decoding_all.redacted_skipped
    assert skipping.catalog_events == kept
