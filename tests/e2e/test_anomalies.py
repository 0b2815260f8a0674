"""Metric anomalies end to end: closed days stored, the metric-anomalies job run, the API serving what it found."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta

import pytest

from domain.platform import PlatformDay
from entrypoints.settings import Settings
from tests.e2e.api_support import Api, running_api

_FIRST_CLOSED = date(2025, 12, 20)
_LAST_CLOSED = date(2026, 2, 28)  # the service's clock is 2 March 2026 (api_support.NOW)
_SPIKE = date(2026, 2, 11)
_DROP = date(2026, 2, 24)


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    with running_api(settings) as running:
        yield running


def _close_days(api: Api) -> None:
    """Seasonal closed days (weekday pattern, growth, noise), with a DAU spike and a Wave-joins drop planted."""
    rng = random.Random(3)
    day = _FIRST_CLOSED
    while day <= _LAST_CLOSED:
        t = (day - _FIRST_CLOSED).days
        totals = {
            "daily_active_people": round(400 + 2 * t + (-60 if day.weekday() >= 5 else 15) + rng.gauss(0, 8)),
            "new_people": round(30 + rng.gauss(0, 3)),
            "microacts_created": round(900 + (120 if day.weekday() == 0 else 0) + rng.gauss(0, 20)),
            "waves_joined": round(150 + rng.gauss(0, 6)),
        }
        if day == _SPIKE:
            totals["daily_active_people"] += 250
        if day == _DROP:
            totals["waves_joined"] -= 90
        api.container.store.save(PlatformDay.close(day, totals))
        day += timedelta(days=1)


def test_planted_anomalies_are_recorded_by_the_job_and_served(api: Api) -> None:
    _close_days(api)
    day = date(2026, 2, 1)
    while day <= _LAST_CLOSED:
        assert api.container.jobs.run("metric-anomalies", day).status == "succeeded"
        day += timedelta(days=1)
    response = api.get("/api/dashboard/anomalies", "analyst", **{"from": "2026-02-01", "to": "2026-02-28"})
    assert response.status_code == 200, response.text
    found = response.json()["data"]["series"]
    assert [(p["date"], p["metric"], p["direction"]) for p in found] == [
        (_SPIKE.isoformat(), "dau", "spike"),
        (_DROP.isoformat(), "wave_joins", "drop"),
    ]
    spike = found[0]
    assert spike["value"] > spike["high"] > spike["expected"] > spike["low"]
    assert spike["size"] > 4.5
    assert api.get("/api/dashboard/anomalies", "user").status_code == 403


def test_a_day_not_closed_is_not_checked(api: Api) -> None:
    _close_days(api)
    assert api.container.jobs.run("metric-anomalies", date(2026, 3, 1)).rows == 0
    response = api.get("/api/dashboard/anomalies", "analyst", **{"from": "2026-03-01", "to": "2026-03-01"})
    assert response.json()["data"]["series"] == []
