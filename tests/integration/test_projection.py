"""The daily-counts projection on SQLite and PostgreSQL: resumable, rebuildable, erasure-safe."""

from __future__ import annotations

import uuid

import pytest

from application.principals import Principal
from application.read_models.projections import catch_up_together
from application.store import read_topics
from domain.redacted import RedactedEvent
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.overrides import Overrides
from entrypoints.settings import Settings
from tests.conftest import FIXED_NOW
from tests.fakes import FixedClock, consent, event, feedback

SERVICE = Principal(subject="tests", role="service")

FIXED = Overrides(clock=FixedClock(FIXED_NOW))  # a fresh clock per bootstrap would do as well: it never moves


@pytest.fixture
def container(clocked_container: Container) -> Container:
    """On a fixed clock, so the day these events fall on never moves with the time of day."""
    return clocked_container


def send(container: Container, *raw: bytes) -> None:
    report = container.ingestion.ingest(list(raw), sent_at=None, principal=SERVICE)
    assert not report.rejected, report.rejected


def test_counts_follow_the_history_and_resume_from_their_position(settings: Settings) -> None:
    at = FIXED_NOW
    first = bootstrap(settings, overrides=FIXED)
    a, b = uuid.uuid4(), uuid.uuid4()
    send(first, consent(a, analytics=True, at=at), feedback(a, "x", at=at), feedback(a, "y", at=at))
    progress: list[tuple[int, int]] = []
    done = first.daily_counts.catch_up(lambda position, target: progress.append((position, target)))
    assert done.processed > 0
    assert progress[-1][0] == progress[-1][1] == done.position
    first.close()

    second = bootstrap(settings, overrides=FIXED)  # a restart resumes where the view's tracking row says
    try:
        send(second, consent(b, analytics=True, at=at), event("wave_joined", b, {"wave_id": "w"}, at=at))
        more = second.daily_counts.catch_up()
        assert 0 < more.processed < done.processed + more.processed
        counts = second.daily_counts_view.counts()
        assert counts[(at.date(), "wave_feedback_submitted")] == 2
        assert counts[(at.date(), "user_consent_update")] == 2
        assert counts[(at.date(), "wave_joined")] == 1
    finally:
        second.close()


def test_a_rebuild_gives_the_same_counts_as_the_live_view(container: Container) -> None:
    at = FIXED_NOW
    for _ in range(3):
        user = uuid.uuid4()
        send(container, consent(user, analytics=True, at=at), feedback(user, "x", at=at))
        container.daily_counts.catch_up()
    live = container.daily_counts_view.counts()
    rebuilt = container.daily_counts.rebuild()
    assert rebuilt.position == container.store.recorder.max_notification_id()
    assert container.daily_counts_view.counts() == live


def test_events_of_an_erased_user_are_skipped_and_the_projection_advances(container: Container) -> None:
    at = FIXED_NOW
    kept, erased = uuid.uuid4(), uuid.uuid4()
    send(container, consent(erased, analytics=True, at=at), feedback(erased, "gone", at=at))
    send(container, consent(kept, analytics=True, at=at), feedback(kept, "stays", at=at))
    container.erasure.erase(erased, requested_by="test")

    result = container.daily_counts.rebuild()
    # Only what daily counts reads is selected: the erased person's tracked events, not their consent records.
    read = [n for n in container.store.iter_log() if n.topic in read_topics(container.daily_counts.reads)]
    redacted = [e for e in container.store.decode_page(read) if isinstance(e, RedactedEvent)]
    assert result.redacted_skipped == len(redacted) > 0
    assert result.position == container.store.recorder.max_notification_id()
    assert container.daily_counts_view.counts()[(at.date(), "wave_feedback_submitted")] == 1


def test_a_log_ending_in_events_no_projection_reads_is_passed_all_the_same(container: Container) -> None:
    """Only the topics a projection reads are selected, yet its position reaches the end of the log: a catch-up
    that stopped at its last read event would read the same tail again on every tick, and report it as lag."""
    at = FIXED_NOW
    user = uuid.uuid4()
    send(container, consent(user, analytics=True, at=at), feedback(user, "x", at=at))
    container.daily_counts.catch_up()
    container.erasure.erase(user, requested_by="test")  # User.Erased and key records: daily counts reads none
    end = container.store.recorder.max_notification_id()
    assert end is not None
    assert end > container.daily_counts.position()

    assert container.daily_counts.catch_up().processed == 0
    assert container.daily_counts.position() == end
    assert container.daily_counts.lag(at) == (0, 0.0)
    assert catch_up_together(container.store, list(container.projections.values())).position == end
    assert all(p.position() == end for p in container.projections.values())
