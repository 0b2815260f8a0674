"""Several projections fed from one read of the log end where each would alone, with the same rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from application.principals import Principal
from application.read_models.projections import catch_up_together
from entrypoints.bootstrap import Container
from tests.fakes import consent, event

SERVICE = Principal(subject="tests", role="service")


def test_one_pass_for_all_gives_what_each_gives_alone(container: Container) -> None:
    now = datetime.now(UTC) - timedelta(minutes=1)
    people = [uuid.uuid4() for _ in range(4)]
    for i, person in enumerate(people):
        container.ingestion.ingest(
            [
                consent(person, analytics=True, at=now - timedelta(days=i)),
                event("wave_joined", person, {"wave_id": f"w{i % 2}"}, at=now),
                event("microact_created", person, {"microact_id": "m", "category": "c"}, at=now - timedelta(days=i)),
            ],
            sent_at=None,
            principal=SERVICE,
        )
    container.daily_counts.catch_up()  # one projection ahead of the others: each resumes from its own place
    result = catch_up_together(container.store, list(container.projections.values()), page_size=3)
    target = container.store.recorder.max_notification_id()
    assert result.position == target
    assert all(p.position() == target for p in container.projections.values())
    together = (
        container.daily_counts_view.counts(),
        container.live_activity.snapshot(now),
        container.user_days.day_totals(now.date()),
    )
    for projection in container.projections.values():
        projection.rebuild()
    alone = (
        container.daily_counts_view.counts(),
        container.live_activity.snapshot(now),
        container.user_days.day_totals(now.date()),
    )
    assert together == alone
    assert together[1].wave_participants == {"w0": 2, "w1": 2}
