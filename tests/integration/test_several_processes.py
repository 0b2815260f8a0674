"""Two service processes on one database (two containers stand in for them)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent

from adapters.eventstore.persistence import build_key_store
from application.principals import Principal
from domain.session import Session
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.settings import Settings
from tests.fakes import consent, feedback

SERVICE = Principal(subject="tests", role="service")


@pytest.fixture
def other(settings: Settings, container: Container) -> Iterator[Container]:
    second = bootstrap(settings)
    yield second
    second.close()


def send(container: Container, *raw: bytes) -> tuple[int, int]:
    report = container.ingestion.ingest(list(raw), sent_at=None, principal=SERVICE)
    return report.accepted, report.not_collected


def test_a_withdrawal_made_by_another_process_counts_at_once(container: Container, other: Container) -> None:
    user, at = uuid.uuid4(), datetime.now(UTC)
    assert send(container, consent(user, analytics=True, at=at), feedback(user, "one", at=at)) == (2, 0)
    assert send(other, consent(user, analytics=False, at=at)) == (1, 0)
    # The first process still has the user's consent and session cached.
    assert send(container, feedback(user, "two", at=at)) == (0, 1)


def test_writes_of_one_session_from_two_processes_interleave_without_loss(
    container: Container, other: Container
) -> None:
    user, at = uuid.uuid4(), datetime.now(UTC)
    send(container, consent(user, analytics=True, at=at))
    for turn in range(6):
        writer = container if turn % 2 == 0 else other
        assert send(writer, feedback(user, f"turn {turn}", at=at)) == (1, 0)
    subject = container.keys.subject_for(user, create=False)
    assert subject is not None
    session = container.store.repository.get(Session.create_id(subject, "session-1"))
    assert session.event_count == 7


def test_a_process_appends_to_a_session_another_moved_on_without_reading_what_it_wrote(
    container: Container, other: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, at = uuid.uuid4(), datetime.now(UTC)
    assert send(container, consent(user, analytics=True, at=at), feedback(user, "first", at=at)) == (2, 0)
    for turn in range(3):
        assert send(other, feedback(user, f"other {turn}", at=at)) == (1, 0)
    read: list[uuid.UUID] = []
    ledger = container.store.ledger
    events_after = ledger.events_after

    def reading(versions: Mapping[uuid.UUID, int]) -> list[StoredEvent]:
        read.extend(versions)
        return events_after(versions)

    monkeypatch.setattr(ledger, "events_after", reading)
    assert send(container, feedback(user, "again", at=at)) == (1, 0)
    subject = container.keys.subject_for(user, create=False)
    assert subject is not None
    stream = Session.create_id(subject, "session-1")
    assert stream not in read  # appended at the stored version: the other process's events were not read
    versions = [e.originator_version for e in container.store.recorder.select_events(stream)]
    assert versions == list(range(1, len(versions) + 1))
    assert container.store.repository.get(stream).event_count == 6


def test_an_erasure_by_another_process_reaches_a_cached_key_within_the_cache_time(container: Container) -> None:
    user = uuid.uuid4()
    send(container, consent(user, analytics=True))
    database, master = container.settings.database, container.settings.master_key
    # Two other processes' key stores: one keeps keys an hour, one a fifth of a second.
    keeping, brief = (build_key_store(database, master, cache_seconds=s) for s in (3600.0, 0.2))
    subject = keeping.subject_for(user, create=False)
    assert subject is not None
    assert keeping.data_key(subject) is not None
    assert brief.data_key(subject) is not None
    container.erasure.erase(user, requested_by="test")
    assert keeping.data_key(subject) is not None  # still within its cache time: the bound is the cache time
    time.sleep(0.3)  # real seconds, so at least 0.3 s on the monotonic clock the cache reads
    assert brief.data_key(subject) is None
    for reader in (keeping, brief):
        close = getattr(reader, "close", None)
        if close:
            close()


def test_another_process_writing_the_same_session_between_read_and_commit_loses_nothing(
    container: Container, other: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: each time the first process is about to insert its events, the second one
    writes the same session (in a thread, as it would in its own process) before the first commits."""
    user, at = uuid.uuid4(), datetime.now(UTC)
    send(container, consent(user, analytics=True, at=at))
    send(container, feedback(user, "cached", at=at))
    recorder = container.store.recorder
    insert = recorder.insert_events
    injected: list[threading.Thread] = []
    answers: list[tuple[int, int]] = []

    def another_write_then_insert(stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if len(injected) < 3:
            writer = threading.Thread(target=lambda: answers.append(send(other, feedback(user, "other", at=at))))
            injected.append(writer)
            writer.start()
            # Without the ingest lock the other write commits now; with it, it waits for this one's commit.
            writer.join(timeout=2)
        return insert(stored_events, **kwargs)

    monkeypatch.setattr(recorder, "insert_events", another_write_then_insert)
    assert send(container, feedback(user, "first", at=at)) == (1, 0)
    for writer in injected:
        writer.join(timeout=30)
    # One attempt: the session's version is read under the event store's write lock, after the other commit.
    assert len(injected) == 1
    assert answers == [(1, 0)] * len(injected)
    subject = container.keys.subject_for(user, create=False)
    assert subject is not None
    session = other.store.repository.get(Session.create_id(subject, "session-1"))
    assert session.event_count == 3 + len(injected)
