"""The journal of rebuilds asked for while serving, on SQLite and PostgreSQL: asked by one process, claimed by
the lease holder, taken up again when the process running it has stopped."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from adapters.read_models.rebuild_journal import PostgresRebuildJournal, SqliteRebuildJournal, build_rebuild_journal
from entrypoints.settings import Settings

AT = datetime(2026, 12, 3, 12, tzinfo=UTC)


@pytest.fixture
def journal(settings: Settings) -> Iterator[SqliteRebuildJournal | PostgresRebuildJournal]:
    built = build_rebuild_journal(settings.database)
    yield built
    built.close()


def test_the_holder_claims_the_oldest_job_for_the_projections_it_runs_and_only_those(
    journal: SqliteRebuildJournal | PostgresRebuildJournal,
) -> None:
    journal.request("later", ["daily_counts"], AT + timedelta(seconds=1))
    journal.request("first", ["daily_counts", "user_days"], AT)

    claimed = journal.claim(["daily_counts"], "process-a", AT)

    assert [(e.job_id, e.name, e.status) for e in claimed] == [("first", "daily_counts", "running")]
    [following] = journal.claim(["daily_counts"], "process-a", AT)  # the next job, once asked for again
    assert following.job_id == "later"
    assert {e.name: e.status for e in journal.job("first")} == {"daily_counts": "running", "user_days": "pending"}


def test_progress_and_the_end_are_what_the_job_shows(journal: SqliteRebuildJournal | PostgresRebuildJournal) -> None:
    journal.request("job", ["live_activity"], AT)
    journal.claim(["live_activity"], "process-a", AT)
    journal.progress("job", ["live_activity"], 40, 100)
    assert [(e.position, e.target) for e in journal.unfinished()] == [(40, 100)]

    journal.finish("job", ["live_activity"], "swapped", AT + timedelta(seconds=5))

    [entry] = journal.job("job")
    assert (entry.status, entry.finished_at, entry.position) == ("swapped", AT + timedelta(seconds=5), 40)
    assert journal.unfinished() == []
    assert journal.job("no such job") == []


def test_a_rebuild_left_running_by_a_stopped_process_is_taken_up_by_the_next_lease_holder(
    journal: SqliteRebuildJournal | PostgresRebuildJournal,
) -> None:
    journal.request("job", ["user_days"], AT)
    journal.claim(["user_days"], "stopped-process", AT)
    assert journal.claim(["user_days"], "stopped-process", AT) == []  # its own: still under way there

    [entry] = journal.claim(["user_days"], "next-holder", AT + timedelta(minutes=1))

    assert (entry.status, entry.started_at) == ("running", AT + timedelta(minutes=1))
