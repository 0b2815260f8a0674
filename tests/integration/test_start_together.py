"""Several processes starting at once on a new database create its tables without colliding."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from application.principals import Principal
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.settings import Settings
from tests.fakes import consent

SERVICE = Principal(subject="tests", role="service")


def test_four_services_starting_together_on_a_new_schema_all_come_up(settings: Settings) -> None:
    # Threads with connections of their own meet in the database as processes do.
    with ThreadPoolExecutor(max_workers=4) as starting:
        containers: list[Container] = list(starting.map(lambda _: bootstrap(settings), range(4)))
    try:
        assert all(c.database_ready() for c in containers)
        # Each one writes through the tables the others created, and each reads what all four wrote.
        heads = []
        for container in containers:
            report = container.ingestion.ingest(
                [consent(uuid.uuid4(), analytics=True)], sent_at=None, principal=SERVICE
            )
            assert report.accepted == 1, report
            heads.append(container.store.recorder.max_notification_id() or 0)
        assert heads == sorted(set(heads))  # each write went past the one before
        assert heads[0] > 0
        assert {c.store.recorder.max_notification_id() for c in containers} == {heads[-1]}
        for container in containers:
            container.daily_counts.catch_up()
        assert {c.daily_counts.position() for c in containers} == {heads[-1]}
    finally:
        for container in containers:
            container.close()
