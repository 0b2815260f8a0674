"""A page of the log decoded at once (the keys of all its people read in one query) equals one event at a time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.persistence import Notification

from application.principals import Principal
from domain.redacted import RedactedEvent
from domain.session import Session
from entrypoints.bootstrap import Container
from tests.fakes import consent, feedback

SERVICE = Principal(subject="tests", role="service")


def fields(event: Any) -> tuple[type, dict[str, Any]]:
    return type(event), dict(vars(event))


def log_with_one_erased(container: Container, people: list[uuid.UUID]) -> list[Notification]:
    """The log after each person consented and sent one event, and the first was erased."""
    at = datetime.now(UTC)
    container.ingestion.ingest(
        [message for p in people for message in (consent(p, analytics=True, at=at), feedback(p, "x", at=at))],
        sent_at=None,
        principal=SERVICE,
    )
    container.erasure.erase(people[0], requested_by="test")
    return list(container.store.iter_log())


def test_a_page_decodes_as_its_events_do_one_by_one_with_one_key_query(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = [uuid.uuid4() for _ in range(5)]
    page = log_with_one_erased(container, people)
    one_by_one = [fields(container.store.mapper.to_domain_event(n)) for n in page]

    keys: Any = container.keys
    keys._cache.clear()  # cold, as in a rebuild of a long history
    queries: list[int] = []
    many = keys._find_wrapped_many

    def counted(subject_ids: list[uuid.UUID]) -> dict[uuid.UUID, bytes]:
        queries.append(len(subject_ids))
        return many(subject_ids)

    monkeypatch.setattr(keys, "_find_wrapped_many", counted)
    monkeypatch.setattr(keys, "_find_wrapped", lambda subject_id: pytest.fail("a key read one at a time"))
    at_once = [fields(e) for e in container.store.decode_page(page)]

    assert at_once == one_by_one
    assert len(queries) == 1
    assert queries[0] >= len(people)
    redacted = [e for e in at_once if e[0] is RedactedEvent]
    assert redacted
    assert all(e[1]["subject_id"] == redacted[0][1]["subject_id"] for e in redacted)
    assert len(redacted) < len(at_once)


def test_a_page_decodes_only_the_events_asked_for_and_says_which_unread_ones_are_redacted(
    container: Container,
) -> None:
    page = log_with_one_erased(container, [uuid.uuid4() for _ in range(3)])
    every = container.store.decode_page(page)

    some = container.store.decode_page(page, (Session.EventsTracked,))

    assert [fields(e) for e in some if e is not None and not isinstance(e, RedactedEvent)] == [
        fields(e) for e in every if isinstance(e, Session.EventsTracked)
    ]
    assert [fields(e) for e in some if isinstance(e, RedactedEvent)] == [
        fields(e) for e in every if isinstance(e, RedactedEvent)
    ]
    assert [n.topic for n, e in zip(page, some, strict=True) if e is None] == [
        n.topic for n, e in zip(page, every, strict=True) if not isinstance(e, (Session.EventsTracked, RedactedEvent))
    ]
