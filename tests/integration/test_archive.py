"""The archive on SQLite and PostgreSQL: closed sessions leave the hot store, and every reader still sees them.

The service runs on a fixed clock: people are active in February 2026, then
the clock moves on 100 days, someone is active again, and the archive run
moves what is past the 90 days.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from eventsourcing.utils import get_topic

from adapters.encryption.mapper import subject_of_state
from application.errors import StorageError
from application.principals import Principal
from application.read_models.projections import catch_up_together
from domain.redacted import RedactedEvent
from domain.session import Session
from entrypoints.bootstrap import Container, Overrides, bootstrap
from entrypoints.settings import Settings
from tests.fakes import FixedClock, consent, event, feedback

SERVICE = Principal(subject="tests", role="service")
THEN = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)
CANARY = "archive-canary-7f3a9c"
SESSION_TOPICS = [get_topic(Session.Started), get_topic(Session.EventsTracked)]


class People(msgspec.Struct):
    old: uuid.UUID  # active only in February
    back: uuid.UUID  # active in February, and again 100 days later in a new session
    new: uuid.UUID  # active only 100 days later


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(THEN)


@pytest.fixture
def service(settings: Settings, tmp_path: Path, clock: FixedClock) -> Iterator[Container]:
    built = bootstrap(
        msgspec.structs.replace(settings, archive_dir=tmp_path / "archive"), overrides=Overrides(clock=clock)
    )
    yield built
    built.close()


def send(container: Container, *raw: bytes) -> None:
    report = container.ingestion.ingest(list(raw), sent_at=None, principal=SERVICE)
    assert report.accepted == len(raw), report


def session_event(name: str, person: uuid.UUID, session: str, at: datetime, **props: Any) -> bytes:
    raw = msgspec.json.decode(event(name, person, props, at=at))
    return msgspec.json.encode({**raw, "session_id": session})


def populate(service: Container, clock: FixedClock) -> People:
    people = People(old=uuid.uuid4(), back=uuid.uuid4(), new=uuid.uuid4())
    for person in (people.old, people.back):
        send(service, consent(person, analytics=True, at=THEN - timedelta(days=3)))
        for day in (3, 2):
            at = THEN - timedelta(days=day)
            send(
                service,
                session_event("wave_joined", person, f"s{day}", at, wave_id="w1"),
                session_event("microact_created", person, f"s{day}", at, microact_id="m", category="kindness"),
            )
    send(service, feedback(people.old, CANARY, at=THEN - timedelta(days=1)))
    clock.advance(days=100)
    now = clock.now()
    send(service, consent(people.new, analytics=True, at=now - timedelta(hours=1)))
    for person in (people.back, people.new):
        send(service, session_event("wave_joined", person, "later", now - timedelta(minutes=30), wave_id="w2"))
    return people


def read_models(service: Container) -> tuple[Any, ...]:
    now = service.clock.now()
    first, last = date(2026, 1, 1), now.date()
    return (
        service.daily_counts_view.counts(),
        service.user_days_view.active_days(first, last),
        [service.user_days.day_totals(first + timedelta(days=d)) for d in range((last - first).days + 1)],
        service.live_activity.snapshot(now),
    )


def project(service: Container, *, rebuild: bool = False) -> None:
    catch_up_together(service.store, list(service.projections.values()), rebuild=rebuild)


def hot_session_streams(service: Container) -> set[uuid.UUID]:
    recorder: Any = service.store.recorder
    return {n.originator_id for n in recorder.select_hot(1, 100_000, topics=SESSION_TOPICS)}


def log(service: Container) -> list[tuple[int, uuid.UUID, int, bytes]]:
    rows = service.store.recorder.select_notifications(1, 100_000)
    return [(n.id, n.originator_id, n.originator_version, bytes(n.state)) for n in rows]


def test_closed_sessions_move_to_the_archive_and_the_log_reads_the_same(service: Container, clock: FixedClock) -> None:
    populate(service, clock)
    before, hot_before = log(service), hot_session_streams(service)
    top = service.store.recorder.max_notification_id()

    run = service.archiving.run()

    # Two people's February sessions: the consent's (Started, consent, and for one the feedback) and s3, s2.
    assert (run.sessions, run.events) == (6, 13)
    assert run.bytes > 0
    assert len(run.files) == 1
    assert Path(run.files[0]).name.endswith(".parquet")
    assert len(hot_session_streams(service)) == len(hot_before) - 6  # the sessions of late May stay hot
    assert log(service) == before
    assert service.store.recorder.max_notification_id() == top
    assert service.archiving.run().events == 0  # nothing more is old enough


def test_a_rebuild_from_archive_and_hot_store_gives_the_same_read_models(service: Container, clock: FixedClock) -> None:
    populate(service, clock)
    project(service)
    before = read_models(service)
    assert before[0][(date(2026, 2, 17), "wave_joined")] == 2

    assert service.archiving.run().events == 13
    project(service, rebuild=True)
    assert read_models(service) == before
    for projection in service.projections.values():
        projection.rebuild()
    assert read_models(service) == before


def test_history_replays_archived_events_and_an_archived_session_continues_its_stream(
    service: Container, clock: FixedClock
) -> None:
    people = populate(service, clock)
    subject = service.keys.subject_for(people.old, create=False)
    assert subject is not None
    before = list(service.history.of_subject(subject))
    service.archiving.run()

    assert list(service.history.of_subject(subject)) == before
    stream = Session.create_id(subject, "s2")
    assert [e.version for e in service.history.of_stream(stream)] == [1, 2]
    # The app reuses an archived session's id: the stream goes on from its archived versions.
    send(service, session_event("wave_joined", people.old, "s2", clock.now(), wave_id="w3"))
    assert [e.version for e in service.history.of_stream(stream)] == [1, 2, 3]
    assert service.store.repository.get(stream).event_count == 3


def test_a_fresh_process_continues_an_archived_session_from_its_archived_version(
    service: Container, clock: FixedClock, settings: Settings, tmp_path: Path
) -> None:
    people = populate(service, clock)
    service.archiving.run()
    subject = service.keys.subject_for(people.old, create=False)
    assert subject is not None
    stream = Session.create_id(subject, "s2")
    assert stream not in hot_session_streams(service)
    # Another process, which never cached the session: the archive says where the stream stands.
    archived = msgspec.structs.replace(settings, archive_dir=tmp_path / "archive")
    fresh = bootstrap(archived, overrides=Overrides(clock=clock))
    try:
        send(fresh, session_event("wave_joined", people.old, "s2", clock.now(), wave_id="w3"))
        assert [e.version for e in fresh.history.of_stream(stream)] == [1, 2, 3]
        assert fresh.store.repository.get(stream).event_count == 3
    finally:
        fresh.close()


def test_after_erasure_archived_events_are_unreadable_and_no_archive_file_holds_plaintext(
    service: Container, clock: FixedClock, tmp_path: Path
) -> None:
    people = populate(service, clock)
    subject = service.keys.subject_for(people.old, create=False)
    assert subject is not None
    assert service.archiving.run().events == 13
    files = list((tmp_path / "archive").glob("*.parquet"))
    assert files
    assert not any(CANARY.encode() in f.read_bytes() for f in files)
    archived = [n for n in service.store.recorder.select_notifications(1, 100_000) if n.topic in SESSION_TOPICS]
    mine = [n for n in archived if subject_of_state(n.state) == subject]
    assert len(mine) == 7
    assert not any(isinstance(service.store.mapper.to_domain_event(n), RedactedEvent) for n in mine)

    service.erasure.erase(people.old, requested_by="tests")

    assert all(isinstance(service.store.mapper.to_domain_event(n), RedactedEvent) for n in mine)
    project(service, rebuild=True)
    assert (date(2026, 2, 19), "wave_feedback_submitted") not in service.daily_counts_view.counts()


def test_a_crash_between_file_and_delete_leaves_rows_in_both_places_and_nothing_counts_twice(
    service: Container, clock: FixedClock
) -> None:
    people = populate(service, clock)
    project(service)
    before, models = log(service), read_models(service)
    recorder: Any = service.store.recorder
    february = {service.keys.subject_for(p, create=False) for p in (people.old, people.back)}
    later = {Session.create_id(s, "later") for s in february if s is not None}
    old = [
        n
        for n in recorder.select_hot(1, 100_000, topics=SESSION_TOPICS)
        if subject_of_state(n.state) in february and n.originator_id not in later
    ]
    assert len(old) == 13
    recorder.archive.write(old)  # the file, and then the crash: no delete

    assert log(service) == before
    project(service, rebuild=True)
    assert read_models(service) == models
    assert service.archiving.run().events == 13  # the next run moves them; the file is written again
    assert log(service) == before
    project(service, rebuild=True)
    assert read_models(service) == models


def test_metrics_older_than_two_years_are_purged_and_newer_ones_kept(service: Container, clock: FixedClock) -> None:
    populate(service, clock)
    project(service)
    counts = service.daily_counts_view.counts()
    clock.advance(days=730 - 100 + 2)  # 20 February 2026 is now just over two years ago; 31 May is not
    old_day, kept_day = date(2026, 1, 1), date(2026, 5, 31)
    for day in (old_day, kept_day):  # a day's index summary row (version 1), as daily-indices writes it
        service.user_days_view.put_indices(day, {})

    run = service.archiving.run()

    assert run.metrics_purged > 0
    assert service.user_days_view.indices_with_version(old_day)[0] == 0  # its summary row went with the day
    assert service.user_days_view.indices_with_version(kept_day)[0] == 1
    left = service.daily_counts_view.counts()
    assert left == {k: v for k, v in counts.items() if k[0] >= run.metrics_before}
    assert left
    recent_people = service.user_days.active_people(run.metrics_before, date.max)
    for projection in service.projections.values():  # a rebuild from archive + hot brings nothing back
        projection.rebuild()
    assert service.daily_counts_view.counts() == left
    assert service.user_days.active_people(date.min, run.metrics_before - timedelta(days=1)) == 0
    assert service.user_days.active_people(run.metrics_before, date.max) == recent_people > 0


def test_a_process_pointed_at_another_archive_folder_fails_instead_of_missing_events(
    service: Container, clock: FixedClock, settings: Settings, tmp_path: Path
) -> None:
    populate(service, clock)
    assert service.archiving.run().events == 13
    elsewhere = bootstrap(
        msgspec.structs.replace(settings, archive_dir=tmp_path / "elsewhere"), overrides=Overrides(clock=clock)
    )
    try:
        with pytest.raises(StorageError, match="ADDVALUE_ARCHIVE_DIR"):
            elsewhere.store.recorder.select_notifications(1, 1000)
    finally:
        elsewhere.close()
