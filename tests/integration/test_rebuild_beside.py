"""Rebuilds on SQLite and PostgreSQL happen beside the live read model: readers never see it half built."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest

from application.principals import Principal
from application.read_models.projections import catch_up_together
from entrypoints.bootstrap import Container
from tests.conftest import FIXED_NOW
from tests.fakes import consent, event

SERVICE = Principal(subject="tests", role="service")


@pytest.fixture
def container(clocked_container: Container) -> Container:
    """On a fixed clock, so the day these events fall on never moves with the time of day."""
    return clocked_container


def send(container: Container, *raw: bytes) -> None:
    report = container.ingestion.ingest(list(raw), sent_at=None, principal=SERVICE)
    assert not report.rejected, report.rejected


def test_during_a_rebuild_readers_see_the_full_old_view_and_after_it_everything_including_what_came_meanwhile(
    container: Container,
) -> None:
    at = FIXED_NOW
    people = [uuid.uuid4() for _ in range(6)]
    for person in people:  # one write each: several pages of notifications
        send(container, consent(person, analytics=True, at=at), event("post_liked", person, {"post_id": "p"}, at=at))
    container.daily_counts.catch_up()
    before = container.daily_counts_view.counts()
    assert before[(at.date(), "post_liked")] == 6

    seen_during: list[dict[object, int]] = []
    late = uuid.uuid4()

    def during(position: int, target: int) -> None:
        seen_during.append(dict(container.daily_counts_view.counts()))
        if len(seen_during) == 1:  # something arrives while the rebuild runs
            send(container, consent(late, analytics=True, at=at), event("post_liked", late, {"post_id": "q"}, at=at))

    container.daily_counts._page_size = 2  # several pages, so the rebuild is seen mid-way
    container.daily_counts.rebuild(during)
    assert len(seen_during) > 1
    assert all(view == before for view in seen_during)  # never empty, never partial
    after = container.daily_counts_view.counts()
    assert after[(at.date(), "post_liked")] == 7


def test_rebuilding_all_together_swaps_each_view_and_leaves_no_shadow_behind(container: Container) -> None:
    at = FIXED_NOW
    person = uuid.uuid4()
    send(container, consent(person, analytics=True, at=at), event("post_liked", person, {"post_id": "p"}, at=at))
    projections = list(container.projections.values())
    catch_up_together(container.store, projections)
    before = (
        container.daily_counts_view.counts(),
        container.live_activity.snapshot(at).daily_active_users,
        container.user_days.active_people(at.date(), at.date()),
    )
    catch_up_together(container.store, projections, rebuild=True)
    after = (
        container.daily_counts_view.counts(),
        container.live_activity.snapshot(at).daily_active_users,
        container.user_days.active_people(at.date(), at.date()),
    )
    assert after == before
    assert before[1] == before[2] == 1
    db = container.settings.database
    if db.kind == "sqlite":
        assert db.sqlite_path is not None
        assert not list(db.sqlite_path.parent.glob("*.rebuild.db*"))
    else:
        with psycopg.connect(db.url) as conn:
            left = conn.execute(
                "SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE %s OR schema_name LIKE %s",
                (f"{db.schema}_rebuild%", f"{db.schema}_retired%"),
            ).fetchone()
        assert left == (0,)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # SQLite's swap copies the rows
def test_on_postgres_the_swap_waits_for_a_long_reader_and_then_takes_the_shadows_tables(container: Container) -> None:
    """The swap changes the tables' schema under an exclusive lock: a reader holding the table longer than the
    swap's 500 ms lock timeout makes it try again, and it succeeds once the reader is done."""
    db = container.settings.database
    at = FIXED_NOW
    person = uuid.uuid4()
    send(container, consent(person, analytics=True, at=at), event("post_liked", person, {"post_id": "p"}, at=at))
    container.daily_counts.catch_up()
    table = f'"{db.schema}".daily_event_counts'
    with psycopg.connect(db.url) as reader:
        before_oid = reader.execute("SELECT %s::regclass::oid", (table,)).fetchone()
        reader.execute(f"SELECT count(*) FROM {table}")  # holds ACCESS SHARE until this transaction ends
        finish = threading.Timer(1.2, reader.commit)
        finish.start()
        started = time.monotonic()
        container.daily_counts.rebuild()
        waited = time.monotonic() - started
        finish.join()
        after_oid = reader.execute("SELECT %s::regclass::oid", (table,)).fetchone()
    assert waited >= 1.0  # it could only swap after the reader let go
    assert after_oid != before_oid  # the shadow's table, not a copy into the old one
    assert container.daily_counts_view.counts()[(at.date(), "post_liked")] == 1
    send(container, event("post_liked", person, {"post_id": "q"}, at=at))
    container.daily_counts.catch_up()  # the live view's own statements find the swapped-in table
    assert container.daily_counts_view.counts()[(at.date(), "post_liked")] == 2
