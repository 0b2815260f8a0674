"""Several processes starting at once on a new database create its tables without colliding."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from entrypoints.bootstrap import Container, bootstrap
from entrypoints.settings import Settings


def test_four_services_starting_together_on_a_new_schema_all_come_up(settings: Settings) -> None:
    # Threads with connections of their own meet in the database as processes do.
    with ThreadPoolExecutor(max_workers=4) as starting:
        containers: list[Container] = list(starting.map(lambda _: bootstrap(settings), range(4)))
    try:
        assert all(c.database_ready() for c in containers)
        assert len({c.store.recorder.max_notification_id() or 0 for c in containers}) == 1
    finally:
        for container in containers:
            container.close()
