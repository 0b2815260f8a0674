"""Word of committed events, so that the projections (and the live WebSocket) need not wait out an interval."""

from __future__ import annotations

import uuid

from application.principals import Principal
from entrypoints.bootstrap import Container
from tests.fakes import consent

SERVICE = Principal(subject="tests", role="service")


def test_a_commit_by_another_connection_wakes_the_projections_and_quiet_does_not(container: Container) -> None:
    wakeups = container.wakeups
    assert wakeups is not None  # SQLite too: PRAGMA data_version, not the interval
    # PostgreSQL's NOTIFY reaches every listener of the database, and the suite's
    # parallel workers share one database (a schema each): there, another test's
    # commit may wake this listener, so "quiet" is only checked on SQLite.
    quiet_is_ours = container.settings.database.kind == "sqlite"
    wakeups.wait(0)  # listening from here on
    assert not (quiet_is_ours and wakeups.wait(0.2))
    report = container.ingestion.ingest([consent(uuid.uuid4(), analytics=True)], sent_at=None, principal=SERVICE)
    assert report.accepted == 1
    assert wakeups.wait(2.0)
    assert not (quiet_is_ours and wakeups.wait(0.2))  # that commit is told once
