"""Missed job runs are made up at start, oldest first; a run that fails every retry stays owed (issue 14).

The service's clock is injected: it "stops" after closing a day, "starts" four
days later, and the scheduler's first pass closes the three days it missed.
SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import msgspec
import pytest

from application.principals import Principal
from application.reporting.day_jobs import CloseDay
from application.reporting.owed import RunIndex
from entrypoints.bootstrap import Container, Overrides, bootstrap
from entrypoints.cli.jobs import status
from entrypoints.scheduler import RETRIES, RETRY_AFTER, ProjectionScheduler
from entrypoints.settings import Settings
from tests.fakes import FixedClock, consent, event

SERVICE = Principal(subject="tests", role="service")
# Six days ago: day 0 was closed by the running service; days 1-3 passed while it was stopped.
DAY0 = datetime.now(UTC).date() - timedelta(days=6)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(at(DAY0, 10))


@pytest.fixture
def service(settings: Settings, tmp_path: Path, clock: FixedClock) -> Iterator[Container]:
    chosen = msgspec.structs.replace(settings, archive_dir=tmp_path / "archive", min_group_size=1)
    with bootstrap(chosen, overrides=Overrides(clock=clock)) as container:
        yield container


def started(container: Container, clock: FixedClock) -> ProjectionScheduler:
    """What serve and worker start (entrypoints.scheduler), with the test's clock; passes run by the test."""
    return ProjectionScheduler(
        list(container.projections.values()),
        catch_up_every=1,
        rebuild_every=3600,
        jobs=container.jobs,
        clock=clock.now,
        store=container.store,
        leases=container.leases,
    )


def active(container: Container, clock: FixedClock, day: date, people: int) -> None:
    """``people`` people, each with one event at noon of ``day`` (sent then)."""
    clock.current = at(day, 12)
    for _ in range(people):
        person = uuid.uuid4()
        batch = [
            consent(person, analytics=True, at=at(day, 11)),
            event("wave_joined", person, {"wave_id": "w"}, at=at(day, 11, 30)),
        ]
        report = container.ingestion.ingest(batch, sent_at=None, principal=SERVICE)
        assert report.accepted == 2, report


def close_day_runs(container: Container) -> list[str]:
    return [r.period for r in container.jobs.history() if r.job == "close-day" and r.status == "succeeded"]


def test_on_start_every_missed_day_is_closed_oldest_first_and_shows_in_the_dashboard_series(
    service: Container, clock: FixedClock
) -> None:
    days = [DAY0 + timedelta(days=n) for n in range(4)]
    active(service, clock, days[0], 1)
    clock.current = at(days[1], 2, 0)  # 02:00: the running service closes day 0
    assert started(service, clock).run_due_jobs() == []  # close-day never ran: it owes nothing from before
    service.jobs.run("close-day", days[0])
    for n, day in enumerate(days[1:], start=2):  # stopped: nobody closes these days
        active(service, clock, day, n)
    clock.current = at(days[3] + timedelta(days=1), 9)  # started again at 09:00, after three 02:00s
    assert service.jobs.owed("close-day") == [d.isoformat() for d in days[1:]]

    ran = started(service, clock).run_due_jobs()

    assert ran.count("close-day") == 3
    assert close_day_runs(service) == [d.isoformat() for d in days]  # in that order: oldest first
    assert service.jobs.owed("close-day") == []
    series = service.analytics.active_people_series(days[0], days[3]).data["series"]
    assert [(p["date"], p["dau"]) for p in series] == [(d.isoformat(), n) for n, d in enumerate(days, start=1)]


def test_a_day_whose_runs_all_fail_stays_owed_and_is_listed_while_later_days_close(
    service: Container, clock: FixedClock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    days = [DAY0 + timedelta(days=n) for n in range(4)]
    clock.current = at(days[1], 3)
    service.jobs.run("close-day", days[0])
    broken = days[2].isoformat()
    original = CloseDay.run

    def fails_on_day_2(job: CloseDay, period: str) -> int:
        if period == broken:
            raise RuntimeError("the disk is full")
        return original(job, period)

    monkeypatch.setattr(CloseDay, "run", fails_on_day_2)
    clock.current = at(days[3] + timedelta(days=1), 9)
    scheduler = started(service, clock)
    for _ in range(RETRIES + 3):
        scheduler.run_due_jobs()
        clock.advance(seconds=RETRY_AFTER.total_seconds())

    failed = [r for r in service.jobs.history() if r.job == "close-day" and r.status == "failed"]
    assert [r.period for r in failed] == [broken] * (1 + RETRIES)  # tried, retried, then left
    assert close_day_runs(service) == [days[0].isoformat(), days[1].isoformat(), days[3].isoformat()]
    assert service.jobs.owed("close-day") == [broken]
    capsys.readouterr()
    status(service)
    lines = {line["job"]: line for line in map(json.loads, capsys.readouterr().out.splitlines())}
    assert lines["close-day"]["owed"] == {"count": 1, "oldest": broken}
    assert lines["close-day"]["last_success"]["period"] == days[3].isoformat()

    monkeypatch.setattr(CloseDay, "run", original)  # repaired, and the service restarted: made up
    assert started(service, clock).run_due_jobs().count("close-day") == 1
    assert service.jobs.owed("close-day") == []


def test_the_run_index_reads_each_part_of_the_log_once_and_only_job_runs_count(
    service: Container, clock: FixedClock
) -> None:
    index = RunIndex(service.store)
    clock.current = at(DAY0 + timedelta(days=1), 3)
    service.jobs.run("close-day", DAY0)
    active(service, clock, DAY0 + timedelta(days=1), 2)  # other events after the last job run
    index.refresh()
    assert index.position == service.store.recorder.max_notification_id()  # not left at the last job run
    assert index.first["close-day"] == DAY0.isoformat()
    assert index.succeeded["close-day"] == {DAY0.isoformat()}
    version = index.version
    active(service, clock, DAY0 + timedelta(days=1), 1)
    assert index.refresh().version == version  # new events, no job run: what is owed cannot have changed
