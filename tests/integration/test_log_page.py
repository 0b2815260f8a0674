"""The log read as tuples on PostgreSQL (adapters.eventstore.log_page) equals the library's own reading of it."""

from __future__ import annotations

import uuid

import pytest
from eventsourcing.postgres import PostgresApplicationRecorder

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
