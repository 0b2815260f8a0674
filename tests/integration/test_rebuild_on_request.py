"""A rebuild asked for while serving (application.read_models.rebuilds), on SQLite and PostgreSQL: carried out
in a thread of the lease holder, swapped only while no catch-up of this process writes the live views."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest

from application.errors import NotFound
from entrypoints.bootstrap import Container
from tests.fakes import consent, event
from tests.integration.test_rebuild_beside import send


def settled(container: Container, job_id: str, within: float = 30) -> str:
    deadline = time.monotonic() + within
    while (status := {e.status for e in container.rebuilds.job(job_id)}) & {"pending", "running"}:
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    return "failed" if "failed" in status else "swapped"


def test_the_swap_waits_for_the_writers_lock_and_then_brings_in_what_arrived_meanwhile(container: Container) -> None:
    at, people = datetime.now(UTC), [uuid.uuid4() for _ in range(4)]
    for person in people:
        send(container, consent(person, analytics=True, at=at), event("post_liked", person, {"post_id": "p"}, at=at))
    container.daily_counts.catch_up()
    job_id = container.rebuilds.request(["daily_counts", "user_days"])

    with container.rebuilds.writing:  # as the scheduler holds it during a round of catch-ups
        assert container.rebuilds.start_pending(lambda name: True)
        assert container.rebuilds.busy() == {"daily_counts", "user_days"}
        late = uuid.uuid4()
        send(container, consent(late, analytics=True, at=at), event("post_liked", late, {"post_id": "q"}, at=at))
        time.sleep(1)  # the replay is done by now; the swap waits for the lock
        assert {e.status for e in container.rebuilds.job(job_id)} == {"running"}
        assert container.daily_counts_view.counts()[(at.date(), "post_liked")] == 4  # the live model, as it was

    assert settled(container, job_id) == "swapped"
    assert container.daily_counts_view.counts()[(at.date(), "post_liked")] == 5
    assert container.rebuilds.busy() == frozenset()
    states = {s.name: s for s in container.rebuilds.overview()}
    assert states["daily_counts"].lag_events == 0
    assert states["daily_counts"].rebuild is None
    assert states["live_activity"].lag_events > 0  # not rebuilt, not caught up here
    assert states["live_activity"].lag_seconds > 0  # the oldest not applied was stored before now


def test_an_unknown_projection_or_job_is_not_found(container: Container) -> None:
    with pytest.raises(NotFound, match="known: daily_counts, live_activity, user_days"):
        container.rebuilds.request(["daily_counts", "nothing"])
    with pytest.raises(NotFound):
        container.rebuilds.job("no such job")


def test_a_rebuild_whose_lease_was_lost_meanwhile_fails_and_leaves_the_live_view_alone(container: Container) -> None:
    at, person = datetime.now(UTC), uuid.uuid4()
    send(container, consent(person, analytics=True, at=at), event("post_liked", person, {"post_id": "p"}, at=at))
    container.daily_counts.catch_up()
    before = (container.daily_counts.position(), container.daily_counts_view.counts())
    job_id = container.rebuilds.request(["daily_counts"])
    container.daily_counts.lease = lambda: False  # another process took it (a database restart dropped ours)

    assert container.rebuilds.start_pending(lambda name: True)

    assert settled(container, job_id) == "failed"
    [entry] = container.rebuilds.job(job_id)
    assert "lease lost" in entry.error
    assert (container.daily_counts.position(), container.daily_counts_view.counts()) == before
