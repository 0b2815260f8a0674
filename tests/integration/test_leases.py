"""One process at a time runs each projection, on SQLite and PostgreSQL: a second one waits its turn."""

from __future__ import annotations

import time
import uuid

from application.principals import Principal
from entrypoints.bootstrap import bootstrap
from entrypoints.overrides import Overrides
from entrypoints.scheduler import scheduler_for
from entrypoints.settings import Settings
from tests.conftest import FIXED_NOW
from tests.fakes import FixedClock, consent, event

SERVICE = Principal(subject="tests", role="service")

FIXED = Overrides(clock=FixedClock(FIXED_NOW))  # a fresh clock per bootstrap would do as well: it never moves


def test_a_lease_is_held_by_one_process_and_passes_on_when_it_stops(settings: Settings) -> None:
    # Two processes, as far as the database can tell.
    first, second = bootstrap(settings, overrides=FIXED), bootstrap(settings, overrides=FIXED)
    try:
        assert first.leases.hold("daily_counts")
        assert first.leases.hold("daily_counts")  # held: asking again keeps it
        assert not second.leases.hold("daily_counts")
        assert second.leases.hold("user_days")  # leases are per projection
        first.leases.close()
        deadline = time.monotonic() + 5  # PostgreSQL frees the lock when the holder's backend has exited
        while not second.leases.hold("daily_counts") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert second.leases.hold("daily_counts")
    finally:
        first.close()
        second.close()


def test_two_schedulers_never_both_apply_the_same_events(settings: Settings) -> None:
    first, second = bootstrap(settings, overrides=FIXED), bootstrap(settings, overrides=FIXED)
    try:
        at = FIXED_NOW
        people = [uuid.uuid4() for _ in range(5)]
        for person in people:
            raw = [consent(person, analytics=True, at=at), event("post_liked", person, {"post_id": "p"}, at=at)]
            first.ingestion.ingest(raw, sent_at=None, principal=SERVICE)
        one, other = scheduler_for(first), scheduler_for(second)
        for _ in range(3):  # each runs its rounds as its thread would
            for scheduler in (one, other):
                assert scheduler._caught_up_together()
        assert first.daily_counts_view.counts()[(at.date(), "post_liked")] == 5
        assert other._leased() == []  # the second waits
    finally:
        first.close()
        second.close()
