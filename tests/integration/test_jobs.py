"""Batch jobs on SQLite and PostgreSQL: close-day freezes totals, reruns are idempotent, runs are recorded."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import msgspec
import pytest
from eventsourcing.application import AggregateNotFoundError

from application.principals import Principal
from application.reporting.daily_indices import DailyIndices
from application.reporting.jobs import UnknownJob
from domain.indices import FORMULA_VERSION
from domain.platform import PlatformDay
from entrypoints.bootstrap import Container
from tests.conftest import FIXED_NOW
from tests.fakes import consent, event

SERVICE = Principal(subject="tests", role="service")
NOW = FIXED_NOW - timedelta(minutes=1)


@pytest.fixture
def container(clocked_container: Container) -> Container:
    """On a fixed clock: the days these tests close and count do not move with the time of day."""
    return clocked_container


YESTERDAY = NOW - timedelta(days=1)


def send(container: Container, *raw: bytes) -> None:
    report = container.ingestion.ingest(list(raw), sent_at=None, principal=SERVICE)
    assert report.accepted == len(raw), report


def totals(container: Container) -> dict[str, int]:
    day: PlatformDay = container.store.repository.get(PlatformDay.create_id(YESTERDAY.date()))
    return day.totals


def test_close_day_freezes_the_days_totals_and_erasure_does_not_change_them(container: Container) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    send(container, consent(a, analytics=True, at=YESTERDAY), event("post_liked", a, {"post_id": "p"}, at=YESTERDAY))
    send(container, consent(b, analytics=True, at=YESTERDAY - timedelta(days=3)))
    send(container, event("post_liked", b, {"post_id": "q"}, at=YESTERDAY))

    report = container.jobs.run("close-day", YESTERDAY.date())
    assert (report.status, report.rows) == ("succeeded", 1)
    closed = totals(container)
    assert closed["daily_active_people"] == 2
    assert closed["new_people"] == 1  # b was first active three days earlier
    assert closed["likes_given"] == 2

    container.erasure.erase(a, requested_by="test")
    container.user_days.rebuild()
    assert totals(container) == closed  # the closed day is a record, not a recount
    assert container.user_days.active_people(YESTERDAY.date(), YESTERDAY.date()) == 1  # while per-person rows went


def test_running_twice_is_idempotent_and_a_late_event_recloses_the_day(container: Container) -> None:
    a = uuid.uuid4()
    send(container, consent(a, analytics=True, at=YESTERDAY))
    assert container.jobs.run("close-day", YESTERDAY.date()).rows == 1
    assert container.jobs.run("close-day", YESTERDAY.date()).rows == 0
    send(container, event("microact_created", a, {"microact_id": "m", "category": "c"}, at=YESTERDAY))  # late
    assert container.jobs.run("close-day", YESTERDAY.date()).rows == 1
    assert totals(container)["microacts_created"] == 1
    history = [r for r in container.jobs.history() if r.period == YESTERDAY.date().isoformat()]
    assert [(r.status, r.rows) for r in history] == [("succeeded", 1), ("succeeded", 0), ("succeeded", 1)]


def test_a_failed_run_is_recorded_and_visible(container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(period: object) -> int:
        raise RuntimeError("the disk is full")

    close_day = next(job for job in container.jobs.all() if job.name == "close-day")
    monkeypatch.setattr(close_day, "run", broken)
    report = container.jobs.run("close-day", YESTERDAY.date())
    assert report.status == "failed"
    assert report.error == "RuntimeError: the disk is full"
    assert any(r.status == "failed" and r.error for r in container.jobs.history())
    with pytest.raises(UnknownJob, match="close-day"):
        container.jobs.run("no-such-job")


def test_a_rerun_after_an_erasure_keeps_the_closed_totals(container: Container) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    send(container, consent(a, analytics=True, at=YESTERDAY), consent(b, analytics=True, at=YESTERDAY))
    container.jobs.run("close-day", YESTERDAY.date())
    closed = totals(container)
    container.erasure.erase(a, requested_by="test")
    container.user_days.catch_up()
    assert container.jobs.run("close-day", YESTERDAY.date()).rows == 0
    assert totals(container) == closed


def test_a_final_day_missed_is_closed_once_and_then_never_reclosed(container: Container) -> None:
    long_ago = (NOW - timedelta(days=40)).date()  # a day a stopped service never closed (issue 14)
    with pytest.raises(AggregateNotFoundError):
        container.store.repository.get(PlatformDay.create_id(long_ago))
    assert container.jobs.run("close-day", long_ago).rows == 1
    closed: PlatformDay = container.store.repository.get(PlatformDay.create_id(long_ago))
    assert closed.totals["daily_active_people"] == 0
    assert container.jobs.run("close-day", long_ago).rows == 0  # final: not recounted


def test_daily_indices_give_each_active_person_their_scores_and_erasure_removes_them(container: Container) -> None:
    active, idle = uuid.uuid4(), uuid.uuid4()
    send(container, consent(active, analytics=True, at=YESTERDAY), consent(idle, analytics=True, at=YESTERDAY))
    send(
        container,
        event("activation_mood_logged", active, {"activation_id": "a", "phase": "start", "mood": 5}, at=YESTERDAY),
        event("activation_mood_logged", active, {"activation_id": "a", "phase": "end", "mood": 7}, at=YESTERDAY),
        event("microact_shared", active, {"microact_id": "m", "audience": "community"}, at=YESTERDAY),
    )
    report = container.jobs.run("daily-indices", YESTERDAY.date())
    assert (report.status, report.rows) == ("succeeded", 2)
    indices = next(job for job in container.jobs.all() if isinstance(job, DailyIndices))
    subject = container.keys.subject_for(active, create=False)
    idle_subject = container.keys.subject_for(idle, create=False)
    assert subject is not None
    assert idle_subject is not None
    mine, theirs = indices.of(subject, YESTERDAY.date()), indices.of(idle_subject, YESTERDAY.date())
    assert mine is not None
    assert theirs is not None
    assert mine.flourish.formula_version == FORMULA_VERSION
    assert mine.flourish.mood_score > 0
    assert mine.add_value.sharing_score > theirs.add_value.sharing_score == 0
    assert container.jobs.run("daily-indices", YESTERDAY.date()).rows == 2
    assert indices.of(subject, YESTERDAY.date()) == mine  # a rerun gives the same rows

    container.erasure.erase(active, requested_by="test")
    container.user_days.catch_up()
    assert indices.of(subject, YESTERDAY.date()) is None


def test_daily_indices_leave_the_days_dashboard_summary_ready(container: Container) -> None:
    """The job sums the day up as it writes it, so no dashboard read computes it over ~10,000 rows."""
    people = [uuid.uuid4() for _ in range(3)]
    send(container, *(consent(p, analytics=True, at=YESTERDAY) for p in people))
    send(
        container,
        *(
            event("microact_shared", p, {"microact_id": f"m{i}", "audience": "community"}, at=YESTERDAY)
            for i, p in enumerate(people[:2])
        ),
    )
    day = YESTERDAY.date()
    view = container.user_days_view
    assert view.index_summaries(day, day) == {}
    assert container.jobs.run("daily-indices", day).rows == 3
    kept = msgspec.json.decode(view.index_summaries(day, day)[day])
    assert kept["flourish"]["people"] == kept["add_value"]["people"] == 3
    indices = next(job for job in container.jobs.all() if isinstance(job, DailyIndices))
    values = []
    for person in people:
        subject = container.keys.subject_for(person, create=False)
        assert subject is not None
        found = indices.of(subject, day)
        assert found is not None
        values.append(found.add_value.value)
    assert kept["add_value"]["mean"] == pytest.approx(sum(values) / 3)
    (point,) = container.analytics.index_dashboard("add_value", day, day).data["series"]
    assert point["people"] == kept["add_value"]["people"]


def _owed_gauge(container: Container) -> str | None:
    exposition = container.metrics.exposition().decode()  # type: ignore[attr-defined]
    found = re.search(r'^addvalue_job_periods_owed\{job="close-day"\} (\S+)$', exposition, re.M)
    return found[1] if found else None


def test_the_periods_owed_gauge_is_set_by_the_pass_not_by_each_run(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    close_day = next(job for job in container.jobs.all() if job.name == "close-day")
    works = close_day.run
    monkeypatch.setattr(close_day, "run", lambda period: 1 / 0)
    container.jobs.run("close-day", YESTERDAY.date())
    assert _owed_gauge(container) is None  # a run alone does not read the whole run index again
    container.jobs.measure_owed()
    assert _owed_gauge(container) == "1.0"  # as `addvalue jobs status` counts it
    assert len(container.jobs.owed("close-day")) == 1
    monkeypatch.setattr(close_day, "run", works)
    container.jobs.run("close-day", YESTERDAY.date())
    container.jobs.measure_owed()
    assert _owed_gauge(container) == "0.0"
