"""The log read as tuples on PostgreSQL (adapters.eventstore.log_page) equals the library's own reading of it."""

from __future__ import annotations

import uuid

import pytest
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Composable

from adapters.eventstore.log_page import IN_LOG_ORDER, log_page_statement
from application.principals import Principal
from entrypoints.bootstrap import Container
from tests.fakes import consent, event

SERVICE = Principal(subject="tests", role="service")


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_pages_read_as_tuples_equal_the_librarys_notifications(container: Container) -> None:
    for _ in range(3):
        person = uuid.uuid4()
        raw = [consent(person, analytics=True), event("post_liked", person, {"post_id": "p"})]
        container.ingestion.ingest(raw, sent_at=None, principal=SERVICE)
    recorder = container.store.recorder
    top = recorder.max_notification_id() or 0
    assert top >= 9
    topic = recorder.select_hot(1, 1)[0].topic
    for start, limit, stop, topics in [
        (1, 100, None, ()),
        (2, 3, None, ()),
        (1, 100, top - 2, ()),
        (1, 50, None, (topic,)),
    ]:
        ours = recorder.select_hot(start, limit, stop=stop, topics=topics)
        library = PostgresApplicationRecorder.select_notifications(recorder, start, limit, stop=stop, topics=topics)
        assert list(ours) == list(library)
        assert [n.id for n in ours] == sorted(n.id for n in ours)
        assert all(type(n).__name__ == "Notification" and isinstance(n.originator_id, uuid.UUID) for n in ours)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_page_reads_the_log_in_index_order_even_where_the_table_has_no_statistics(container: Container) -> None:
    """Without statistics (no ANALYZE since a bulk load), PostgreSQL 15 took a page's range and topic filter for a
    few rows and planned a bitmap scan of the whole rest of the log and a sort: a rebuild read the log once per
    page. ``IN_LOG_ORDER`` makes the plan the notification_id index, read in order up to the limit."""
    recorder = container.store.recorder
    table = recorder._events_table
    wanted = ["domain.session:Session.EventsTracked"]
    with recorder.datastore.get_connection() as conn, conn.transaction():
        conn.execute(
            SQL(
                "INSERT INTO {} (originator_id, originator_version, topic, state)"
                " SELECT gen_random_uuid(), 1, CASE WHEN i % 10 = 0 THEN 'domain.user:User.FirstSeen'"
                " ELSE 'domain.session:Session.EventsTracked' END, repeat('x', 200)::bytea"
                " FROM generate_series(1, 200000) AS i"
            ).format(table)
        )
    statement, params = log_page_statement(table, 1_000, 100_000, stop=200_000, topics=wanted)

    def plan(*settings: Composable) -> str:
        with recorder.datastore.get_connection() as conn, conn.transaction():
            for setting in settings:
                conn.execute(setting)
            rows = conn.execute(SQL("EXPLAIN ") + statement, params).fetchall()
            return "\n".join(str(next(iter(row.values()))) for row in rows)

    # The hazard itself, so that this test shows the guard is still needed (if a later PostgreSQL plans the
    # page well without it, this assertion says so).
    assert "Sort" in plan(), plan()
    guarded = plan(IN_LOG_ORDER)
    assert "Sort" not in guarded, guarded
    assert "Bitmap" not in guarded, guarded
    assert "Index Scan using addvalue_events_notification_id_idx" in guarded, guarded
    # And the page itself is the first rows of the range, in order.
    page = recorder.select_hot(1_000, 500, stop=200_000, topics=wanted)
    assert [n.id for n in page] == [i for i in range(1_000, 1_556) if i % 10][:500]
