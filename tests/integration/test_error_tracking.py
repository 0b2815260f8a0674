"""Error tracking of the worker's work: a job is reported once it failed after its retries, and an unhandled
exception in a thread is reported, both to a real HTTP receiver of the Sentry SDK's envelopes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from application.reporting.day_jobs import CloseDay
from entrypoints.bootstrap import Container, Overrides, bootstrap
from entrypoints.error_tracking import start_error_tracking, stop_error_tracking
from entrypoints.logging import configure_logging
from entrypoints.scheduler import RETRIES, RETRY_AFTER, ProjectionScheduler
from entrypoints.settings import Settings
from entrypoints.settings_sources import ErrorTrackingSettings
from tests.alert_receivers import wait_for
from tests.fakes import FixedClock
from tests.sentry_receiver import SentryReceiver, sentry_receiver


@pytest.fixture
def receiver() -> Iterator[SentryReceiver]:
    with sentry_receiver() as found:
        configure_logging("warning")
        assert start_error_tracking(ErrorTrackingSettings(dsn=found.dsn, environment="it"), process="worker")
        try:
            yield found
        finally:
            stop_error_tracking()


def test_a_job_is_reported_once_it_failed_after_its_retries_with_its_name_as_a_tag(
    settings: Settings, receiver: SentryReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = datetime.now(UTC).date() - timedelta(days=3)
    clock = FixedClock(datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(hours=3))

    def fails(job: CloseDay, period: str) -> int:
        raise RuntimeError("the disk is full")

    with bootstrap(settings, overrides=Overrides(clock=clock)) as container:
        container.jobs.run("close-day", day - timedelta(days=1))  # it ran before: it owes the day after
        monkeypatch.setattr(CloseDay, "run", fails)
        scheduler = _scheduler(container, clock)
        for attempt in range(RETRIES + 2):
            scheduler.run_due_jobs()
            if attempt < RETRIES:
                assert _job_reports(receiver) == []  # failed, to be retried: not reported
            clock.advance(seconds=RETRY_AFTER.total_seconds())

    (report,) = wait_for(lambda: _job_reports(receiver), what="the job that gave up")
    assert report["tags"]["job"] == "close-day"
    assert report["tags"]["period"] == day.isoformat()
    assert report["tags"]["process"] == "worker"
    assert report["environment"] == "it"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # raised on purpose
def test_an_exception_nothing_catches_in_a_thread_is_reported_with_its_stack(receiver: SentryReceiver) -> None:
    def broken() -> None:
        raise LookupError("nothing caught this")

    thread = threading.Thread(target=broken)
    thread.start()
    thread.join()
    (report,) = wait_for(
        lambda: [
            e for e in receiver.events() if "exception" in e and e["exception"]["values"][-1]["type"] == "LookupError"
        ],
        what="the thread's exception",
    )
    frames = report["exception"]["values"][-1]["stacktrace"]["frames"]
    assert frames[-1]["function"] == "broken"


def _scheduler(container: Container, clock: FixedClock) -> ProjectionScheduler:
    return ProjectionScheduler(
        [], catch_up_every=1, rebuild_every=3600, jobs=container.jobs, clock=clock.now, leases=container.leases
    )


def _job_reports(receiver: SentryReceiver) -> list[dict[str, Any]]:
    return [e for e in receiver.events() if (e.get("tags") or {}).get("log_event") == "job.gave_up"]


def _errors_of_type(receiver: SentryReceiver, name: str) -> list[dict[str, Any]]:
    return [e for e in receiver.events() if "exception" in e and e["exception"]["values"][-1]["type"] == name]
