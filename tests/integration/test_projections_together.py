"""Several projections fed from one read of the log end where each would alone, with the same rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

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


def test_a_page_that_fails_to_be_written_stops_the_pass_and_the_next_pass_loses_nothing(container: Container) -> None:
    """Pages are written in threads beside the reading (PageWriters): a failed write still reaches the caller."""
    now = datetime.now(UTC) - timedelta(minutes=1)
    for i in range(8):
        person = uuid.uuid4()
        container.ingestion.ingest(
            [consent(person, analytics=True, at=now), event("wave_joined", person, {"wave_id": f"w{i % 3}"}, at=now)],
            sent_at=None,
            principal=SERVICE,
        )
    projections = list(container.projections.values())
    live = container.projections["live_activity"]
    write = live._apply_page
    written: list[int] = []

    def fails_on_the_second_page(events: list[object], position: int) -> None:
        if written:
            raise RuntimeError("disk full")
        write(events, position)
        written.append(position)

    live._apply_page = fails_on_the_second_page  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="disk full"):
        catch_up_together(container.store, projections, page_size=3)
    assert live.position() == written[0] < container.store.recorder.max_notification_id()
    del live._apply_page  # type: ignore[method-assign]
    catch_up_together(container.store, projections, page_size=3)
    resumed = container.live_activity.snapshot(now)
    live.rebuild()
    assert resumed == container.live_activity.snapshot(now)
    assert resumed.wave_participants == {"w0": 3, "w1": 3, "w2": 2}
