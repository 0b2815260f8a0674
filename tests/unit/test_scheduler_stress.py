"""The scheduler under stress: an outage is a warning, and a stream of commits is not a pass per commit."""

from __future__ import annotations

import time
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError
from structlog.testing import capture_logs

from application.errors import StorageError
from entrypoints.scheduler import MIN_PASS_GAP_SECONDS, ProjectionScheduler


class _Failing:
    name = "daily_counts"

    def __init__(self, error: Exception) -> None:
        self._error = error

    def catch_up(self) -> Any:
        raise self._error


@pytest.mark.parametrize("error", [OperationalError("couldn't get a connection after 2.00 sec"), StorageError("down")])
def test_an_outage_is_logged_as_a_warning_without_a_traceback(error: Exception) -> None:
    with capture_logs() as logs:
        ProjectionScheduler._run_one(_Failing(error), rebuild=False)  # type: ignore[arg-type]
    assert [(e["event"], e["log_level"]) for e in logs] == [("projection.storage_unavailable", "warning")]
    assert "exc_info" not in logs[0]


def test_any_other_failure_is_an_error_with_its_traceback() -> None:
    with capture_logs() as logs:
        ProjectionScheduler._run_one(_Failing(ValueError("a bug")), rebuild=False)  # type: ignore[arg-type]
    assert [(e["event"], e["log_level"]) for e in logs] == [("projection.failed", "error")]
    assert logs[0].get("exc_info") is True


class _EverCommitting:
    """Wake-ups from a database under load: something is always committed already."""

    def __init__(self) -> None:
        self.asked = 0

    def wait(self, timeout: float) -> bool:
        self.asked += 1
        return True


def test_passes_are_at_least_the_minimum_gap_apart_even_when_commits_never_stop() -> None:
    wakeups = _EverCommitting()
    scheduler = ProjectionScheduler([], catch_up_every=5, rebuild_every=3600, wakeups=wakeups)
    started = time.monotonic()
    scheduler._pause()
    assert time.monotonic() - started >= MIN_PASS_GAP_SECONDS
    assert wakeups.asked == 1  # then the first commit ends the pause


class _Listening:
    """Records whether the scheduler asked for wake-ups before its first catch-up pass."""

    name = "daily_counts"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def wait(self, timeout: float) -> bool:
        self.calls.append("listen")
        return False

    def catch_up(self) -> Any:
        self.calls.append("pass")
        raise StorageError("enough: one pass is all this test needs")


def test_the_scheduler_listens_for_commits_before_its_first_pass() -> None:
    recorder = _Listening()
    scheduler = ProjectionScheduler([recorder], catch_up_every=0.05, rebuild_every=3600, wakeups=recorder)  # type: ignore[list-item]
    scheduler.start()
    deadline = time.monotonic() + 5
    while "pass" not in recorder.calls and time.monotonic() < deadline:
        time.sleep(0.01)
    scheduler.stop()
    assert recorder.calls[:2] == ["listen", "pass"]
