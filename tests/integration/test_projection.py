"""The daily-counts projection on SQLite and PostgreSQL: resumable, rebuildable, erasure-safe."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from application.principals import Principal
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.settings import Settings
from tests.fakes import consent, event, feedback

SERVICE = Principal(subject="tests", role="service")
DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def send(container: Container, *raw: bytes) -> None:
    report = container.ingestion.ingest(list(raw), sent_at=None, principal=SERVICE)
    assert not report.rejected, report.rejected


def test_counts_follow_the_history_and_resume_from_their_position(settings: Settings) -> None:
    at = datetime.now(UTC)
    first = bootstrap(settings)
    a, b = uuid.uuid4(), uuid.uuid4()
    send(first, consent(a, analytics=True, at=at), feedback(a, "x", at=at), feedback(a, "y", at=at))
    progress: list[tuple[int, int]] = []
    done = first.daily_counts.catch_up(lambda position, target: progress.append((position, target)))
    assert done.processed > 0
    assert progress[-1][0] == progress[-1][1] == done.position
    first.close()

    second = bootstrap(settings)  # a restart resumes where the view's tracking row says
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
    at = datetime.now(UTC)
    for _ in range(3):
        user = uuid.uuid4()
        send(container, consent(user, analytics=True, at=at), feedback(user, "x", at=at))
        container.daily_counts.catch_up()
    live = container.daily_counts_view.counts()
    rebuilt = container.daily_counts.rebuild()
    assert rebuilt.position == container.store.recorder.max_notification_id()
    assert container.daily_counts_view.counts() == live


def test_events_of_an_erased_user_are_skipped_and_the_projection_advances(container: Container) -> None:
    at = datetime.now(UTC)
    kept, erased = uuid.uuid4(), uuid.uuid4()
    send(container, consent(erased, analytics=True, at=at), feedback(erased, "gone", at=at))
    send(container, consent(kept, analytics=True, at=at), feedback(kept, "stays", at=at))
    container.erasure.erase(erased, requested_by="test")

    result = container.daily_counts.rebuild()
    assert result.redacted_skipped >= 4  # consent started+changed, user first seen, session started, 2 tracked
    assert result.position == container.store.recorder.max_notification_id()
    assert container.daily_counts_view.counts()[(at.date(), "wave_feedback_submitted")] == 1
