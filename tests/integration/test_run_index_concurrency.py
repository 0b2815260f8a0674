"""A job-run index kept up to date while other processes record runs misses none of them (SQLite and PostgreSQL).

The index (application.reporting.owed.RunIndex) remembers how far it read the log and reads on from
there. That is right only if no run can commit later with a lower notification id than one already
read: the event store's insert lock (PostgreSQL's LOCK TABLE … IN EXCLUSIVE MODE, SQLite's single
writer) is what guarantees it. Two containers record runs side by side (each its own connections and
write lock, as two processes) while a third refreshes its index; the index must then hold every run a
fresh read of the log finds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest

from application.reporting.jobs import Jobs
from application.reporting.owed import RunIndex
from domain.periods import Cadence
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.settings import Settings
from tests.conftest import FIXED_NOW
from tests.fakes import FixedClock

RUNS_PER_WRITER = 60


class Noop:
    """An hourly job with nothing to do: the run record is all it writes."""

    name = "noop"
    schedule = "0 * * * *"
    cadence: Cadence = "hour"
    description = "does nothing"

    def run(self, period: str) -> int:
        return 0


@pytest.fixture
def containers(settings: Settings) -> Iterator[list[Container]]:
    built = [bootstrap(settings) for _ in range(3)]
    yield built
    for container in built:
        container.close()


def hour(k: int) -> str:
    return (FIXED_NOW - timedelta(hours=k + 1)).isoformat(timespec="hours")[:13]


def test_an_index_refreshed_while_two_processes_record_runs_misses_none_of_them(
    containers: list[Container],
) -> None:
    first, second, reader = containers
    clock = FixedClock(FIXED_NOW)
    writers = [Jobs(c.store, [Noop()], clock) for c in (first, second)]
    index = RunIndex(reader.store)
    done, refreshes, failures = threading.Event(), [0], []

    def record(jobs: Jobs, parity: int) -> None:
        try:
            for k in range(parity, 2 * RUNS_PER_WRITER, 2):  # the two writers record different hours
                assert jobs.run("noop", hour(k)).status == "succeeded"
        except BaseException as e:  # reported by the test thread
            failures.append(e)

    def refresh() -> None:
        while not done.is_set():
            index.refresh()
            refreshes[0] += 1

    threads = [threading.Thread(target=record, args=(w, i)) for i, w in enumerate(writers)]
    following = threading.Thread(target=refresh)
    following.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    following.join()
    assert failures == []
    assert refreshes[0] > 1  # the index did read while runs were being recorded
    index.refresh()
    fresh = RunIndex(reader.store).refresh()
    assert len(fresh.succeeded["noop"]) == 2 * RUNS_PER_WRITER
    assert index.succeeded["noop"] == fresh.succeeded["noop"]
    assert index.last_success == fresh.last_success
