"""Each data quality check on a history built to fail it and on one built to pass it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from application.quality import checks
from application.quality.checks import JobRunSeen, Observations, RejectionSeen, Seen
from domain.quality import CheckResult, score_of

START = datetime(2026, 11, 24, 13, tzinfo=UTC)
END = START + timedelta(hours=1)
ANNA, BEN = uuid.uuid4(), uuid.uuid4()


def seen(name: str, person: uuid.UUID = ANNA, minute: int = 10, **fields: Any) -> Seen:
    at = START + timedelta(minutes=minute)
    received = fields.pop("received_at", at + timedelta(seconds=2))
    return Seen(person=person, name=name, occurred_at=at, received_at=received, **fields)


def observed(events: list[Seen] = (), **fields: Any) -> Observations:  # type: ignore[assignment]
    base: dict[str, Any] = {
        "start": START,
        "end": END,
        "events": list(events),
        "rejections": [],
        "hourly": {},
        "projection_lag": {},
        "job_runs": [],
    }
    return Observations(**(base | fields))


def rejected(*messages: str) -> RejectionSeen:
    return RejectionSeen(received_at=START + timedelta(minutes=5), messages=messages)


def weeks_of(counts: dict[str, int], now: dict[str, int]) -> dict[datetime, dict[str, int]]:
    """The hour itself, and the same hour of each of the 4 weeks before."""
    return {START: now} | {START - timedelta(weeks=w): counts for w in range(1, 5)}


def job_run(*, late_by: timedelta, succeeded: bool = True) -> JobRunSeen:
    ended = START - timedelta(hours=1)
    return JobRunSeen(
        job="close-day", period="2026-11-23", period_end=ended, finished_at=ended + late_by, succeeded=succeeded
    )


ACTIVATION = {"activation": "act-1"}
CASES: dict[str, tuple[Callable[[Observations], CheckResult], Observations, Observations]] = {
    "missing_fields": (
        checks.missing_fields,
        observed([seen("user_login")], rejections=[rejected("is required")]),
        observed([seen("user_login")], rejections=[rejected("must be an integer between 1 and 8")]),
    ),
    "flow_gaps": (
        checks.flow_gaps,
        observed(hourly=weeks_of({"wave_joined": 3}, {"user_login": 9})),
        observed(hourly=weeks_of({"wave_joined": 3}, {"wave_joined": 1})),
    ),
    "low_volume": (
        checks.low_volume,
        observed(hourly=weeks_of({"user_login": 100}, {"user_login": 49})),
        observed(hourly=weeks_of({"user_login": 100}, {"user_login": 50})),
    ),
    "sequences": (
        checks.sequences,
        observed([seen("activation_started", **ACTIVATION), seen("activation_round_completed", round=2, **ACTIVATION)]),
        observed(
            [
                seen("activation_started", minute=1, **ACTIVATION),
                seen("activation_round_completed", minute=2, round=1, **ACTIVATION),
                seen("activation_round_completed", minute=3, round=2, **ACTIVATION),
                seen("activation_completed", minute=4, **ACTIVATION),
                seen("wave_joined", minute=5, wave="w"),
                seen("wave_left", minute=6, wave="w"),
            ]
        ),
    ),
    "ranges": (
        checks.range_violations,
        observed([seen("user_login")], rejections=[rejected("must be an integer between 1 and 10")]),
        observed([seen("user_login")], rejections=[rejected("is required")]),
    ),
    "timestamps": (
        checks.timestamp_flags,
        observed([seen("user_login", flags=("future",)), seen("user_login")]),
        observed([seen("user_login"), seen("user_login")]),
    ),
    "event_lag": (
        checks.event_lag,
        observed([seen("user_login", received_at=START + timedelta(hours=2))]),
        observed([seen("user_login")]),
    ),
    "projection_lag": (
        checks.projection_lag,
        observed(projection_lag={"daily_counts": 5000, "user_days": 0}),
        observed(projection_lag={"daily_counts": 3, "user_days": 0}),
    ),
    "jobs": (
        checks.job_timeliness,
        observed(job_runs=[job_run(late_by=timedelta(minutes=10), succeeded=False)]),
        observed(job_runs=[job_run(late_by=timedelta(minutes=10))]),
    ),
    "duplicates": (
        checks.duplicates,
        observed([seen("user_login", fingerprint=7), seen("user_login", minute=10, fingerprint=7)]),
        observed([seen("user_login", fingerprint=7), seen("user_login", minute=11, fingerprint=8)]),
    ),
    "references": (
        checks.referential_integrity,
        observed(
            [seen("user_followed", followed=BEN), seen("wave_left", wave="never-joined")],
            unknown_people=frozenset({BEN}),
        ),
        observed(
            [
                seen("wave_joined", BEN, minute=1, wave="w"),
                seen("wave_left", minute=2, wave="w"),
                seen("user_followed", followed=BEN),
            ]
        ),
    ),
    "recount": (
        checks.recount,
        observed(recount={"user_login": (10, 12), "wave_joined": (3, 3)}),
        observed(recount={"user_login": (12, 12), "wave_joined": (4, 3)}, redacted=1),  # one erased since
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_check_fails_its_broken_history_with_figures_and_passes_its_sound_one(name: str) -> None:
    check, broken, sound = CASES[name]
    failed, passed = check(broken), check(sound)
    assert failed.check == passed.check == name
    assert failed.failed
    assert failed.passed < 1.0
    assert failed.figures, "a failing check shows the figures that failed it"
    assert (passed.passed, passed.figures) == (1.0, {})


def test_the_figures_name_what_failed() -> None:
    _, broken, _ = CASES["recount"]
    assert checks.recount(broken).figures == {"user_login_read_model": 10, "user_login_event_log": 12}
    _, gaps, _ = CASES["flow_gaps"]
    assert set(checks.flow_gaps(gaps).figures) == {"wave_joined@2026-11-24T13"}


def test_a_dimension_scores_the_mean_pass_share_of_its_checks() -> None:
    results = [
        CheckResult(dimension="accuracy", check="a", passed=0.5),
        CheckResult(dimension="accuracy", check="b", passed=1.0),
    ]
    assert score_of(results, "accuracy") == 75.0
    assert score_of(results, "timeliness") == 100.0  # nothing examined fails nothing
    assert len(checks.all_checks(observed())) == len(CASES)
