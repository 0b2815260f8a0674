"""The hourly, weekly, monthly and late-events jobs on SQLite and PostgreSQL, against hand-counted histories.

The service runs on a fixed clock (2 March 2026, 05:00 UTC) so that events
of late January and February are within the catalog's 30 days.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from application.principals import Principal
from application.reporting.daily_indices import DailyIndices
from application.reporting.reports import Reports
from domain.periods import PeriodError
from entrypoints.bootstrap import Container, Overrides, bootstrap
from entrypoints.settings import Settings
from tests.fakes import FixedClock, consent, event

SERVICE = Principal(subject="tests", role="service")
NOW = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)


@pytest.fixture
def service(settings: Settings) -> Iterator[Container]:
    built = bootstrap(settings, overrides=Overrides(clock=FixedClock(NOW)))
    yield built
    built.close()


def send(container: Container, *raw: bytes) -> None:
    report = container.ingestion.ingest(list(raw), sent_at=None, principal=SERVICE)
    assert report.accepted == len(raw), report


def at(day: int, hour: int = 12, month: int = 2) -> datetime:
    return datetime(2026, month, day, hour, 10, tzinfo=UTC)


def report(container: Container, job: str, period: str) -> tuple[dict[str, int], dict[str, float]]:
    found = Reports(container.store).get(job, period)
    assert found is not None
    return found.counts, found.derived


def test_hourly_activity_counts_the_hours_events_and_a_rerun_changes_nothing(service: Container) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    hour = at(20, 9)
    send(service, consent(a, analytics=True, at=hour), consent(b, analytics=True, at=hour))
    send(
        service,
        event("activation_started", a, {"activation_id": "x"}, at=hour),
        event("activation_started", b, {"activation_id": "y"}, at=hour),
        event("activation_completed", a, {"activation_id": "x", "duration_seconds": 300}, at=hour),
        event("microact_created", a, {"microact_id": "m1", "category": "kindness"}, at=hour),
        event("microact_created", b, {"microact_id": "m2", "category": "kindness"}, at=hour),
        event("microact_created", b, {"microact_id": "m3", "category": "gratitude"}, at=hour),
        event("post_created", b, {"post_id": "p", "kind": "text"}, at=hour),
        event("wave_joined", a, {"wave_id": "w"}, at=hour),
        event("wave_joined", a, {"wave_id": "w"}, at=hour + timedelta(hours=1)),  # the next hour
    )
    first = service.jobs.run("hourly-activity", "2026-02-20T09")
    assert (first.status, first.rows) == ("succeeded", 1)
    counts, derived = report(service, "hourly-activity", "2026-02-20T09")
    assert counts["activation_started"] == 2
    assert counts["activation_completed"] == 1
    assert derived["activation_completion_rate"] == 0.5
    assert counts["microact_created"] == 3
    assert counts["microact_created/category:kindness"] == 2
    assert counts["microact_created/category:gratitude"] == 1
    assert (counts["post_created"], counts["post_liked"], counts["wave_joined"]) == (1, 0, 1)
    assert service.jobs.run("hourly-activity", "2026-02-20T09").rows == 0  # idempotent


def test_weekly_summary_gives_wau_wave_participation_and_retention_cohorts(service: Container) -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    # a: first seen in week 6 (2 Feb), back in week 8; b: first seen in week 7, active in week 8; c: only week 6.
    send(service, consent(a, analytics=True, at=at(2)), consent(c, analytics=True, at=at(3)))
    send(service, consent(b, analytics=True, at=at(10)))
    send(
        service,
        event("wave_joined", a, {"wave_id": "w"}, at=at(17)),
        event("wave_joined", a, {"wave_id": "w2"}, at=at(18)),
        event("post_liked", b, {"post_id": "p"}, at=at(19)),
    )
    assert service.jobs.run("weekly-summary", "2026-W08").status == "succeeded"
    counts, _ = report(service, "weekly-summary", "2026-W08")
    assert counts["weekly_active_people"] == 2
    assert counts["wave_participants"] == 1
    assert counts["waves_joined"] == 2
    assert counts["cohort:2026-W06:week0"] == 2  # a and c
    assert counts["cohort:2026-W06:week2"] == 1  # a came back two weeks later
    assert "cohort:2026-W06:week1" not in counts  # nobody of that cohort in week 7
    assert counts["cohort:2026-W07:week0"] == 1
    assert counts["cohort:2026-W07:week1"] == 1

    service.erasure.erase(a, requested_by="test")
    service.user_days.catch_up()
    assert service.jobs.run("weekly-summary", "2026-W08").rows == 0  # a's erasure leaves the recorded week as it was
    assert report(service, "weekly-summary", "2026-W08")[0] == counts


def test_weekly_forecast_follows_the_closed_days(service: Container) -> None:
    people = [uuid.uuid4() for _ in range(6)]
    send(service, *(consent(p, analytics=True, at=at(1)) for p in people))
    # DAU rises over the first 15 days of February; the week's Sunday (the 15th) is the last closed day.
    for day in range(1, 16):
        active = people[: 1 + (day - 1) * len(people) // 15]
        send(service, *(event("post_liked", p, {"post_id": f"{day}"}, at=at(day)) for p in active))
        assert service.jobs.run("close-day", f"2026-02-{day:02d}").status == "succeeded"
    service.jobs.run("weekly-summary", "2026-W07")
    _, derived = report(service, "weekly-summary", "2026-W07")
    assert derived["dau_trend_slope_per_day"] > 0
    forecast = [derived[f"dau_forecast:{(at(15) + timedelta(days=d)).date().isoformat()}"] for d in range(1, 15)]
    assert len(forecast) == 14
    assert forecast[-1] > forecast[0]
    days = [(at(15) + timedelta(days=d)).date().isoformat() for d in range(1, 15)]  # 15 days: a band too
    for day, value in zip(days, forecast, strict=True):
        assert derived[f"dau_forecast_low:{day}"] <= value <= derived[f"dau_forecast_high:{day}"]


def test_monthly_summary_gives_mau_churn_and_an_executive_summary(service: Container) -> None:
    kept, churned, new = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    january = at(31, month=1)
    send(service, consent(kept, analytics=True, at=january), consent(churned, analytics=True, at=january))
    send(service, consent(new, analytics=True, at=at(5)))
    send(service, event("microact_created", kept, {"microact_id": "m", "category": "c"}, at=at(10)))
    for day in (5, 10):
        service.jobs.run("close-day", f"2026-02-{day:02d}")
    assert service.jobs.run("monthly-summary", "2026-02").rows == 2  # the month and its executive summary
    counts, derived = report(service, "monthly-summary", "2026-02")
    assert counts["monthly_active_people"] == 2
    assert counts["previous_month_active_people"] == 2
    assert (counts["churned_people"], counts["retained_people"]) == (1, 1)
    assert derived["churn_rate"] == 0.5
    assert counts["new_people"] == 1
    summary, summary_derived = report(service, "executive-summary", "2026-02")
    expected = {"monthly_active_people": 2, "microacts_created": 1, "closed_days": 2, "peak_daily_active_people": 1}
    assert {key: summary[key] for key in expected} == expected
    assert summary_derived["mean_daily_active_people"] == 1.0


def test_late_events_recompute_the_closed_day_and_its_week(service: Container) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    send(service, consent(a, analytics=True, at=at(24)))
    service.jobs.run("close-day", "2026-02-24")
    service.jobs.run("weekly-summary", "2026-W09")
    assert service.jobs.run("late-events").rows == 0  # nothing changed since

    send(service, consent(b, analytics=True, at=at(24, 18)))  # arrives after the day was closed
    ran = service.jobs.run("late-events")
    assert ran.status == "succeeded"
    assert ran.rows >= 2  # the day again and its week (and its indices)
    day = Reports(service.store).day(at(24).date())
    assert day is not None
    assert day.totals["daily_active_people"] == 2
    assert report(service, "weekly-summary", "2026-W09")[0]["weekly_active_people"] == 2


def test_a_period_of_the_wrong_form_is_refused_before_anything_runs(service: Container) -> None:
    with pytest.raises(PeriodError, match="2026-11-24T13"):
        service.jobs.run("hourly-activity", "2026-02-20")


def test_closing_a_day_counts_people_per_segment(service: Container) -> None:
    fresh, steady, back, fading, gone = (uuid.uuid4() for _ in range(5))
    day = at(26).date()

    def active(person: uuid.UUID, *days: int) -> None:
        send(service, *(event("post_liked", person, {"post_id": f"{d}"}, at=at(d)) for d in days))

    send(service, *(consent(p, analytics=True, at=at(2)) for p in (steady, back, fading, gone)))
    send(service, consent(fresh, analytics=True, at=at(24)))  # first seen this week: new
    active(steady, 16, 25)  # both weeks: active
    active(back, 25)  # this week, not last, but earlier (the 2nd): returning
    active(fading, 15)  # last week only: at risk
    service.jobs.run("close-day", day.isoformat())  # gone: only the 2nd, over two weeks ago: dormant
    counts, derived = report(service, "segments", day.isoformat())
    assert counts == {}
    assert derived == {
        "segment:new": 1,
        "segment:active": 1,
        "segment:returning": 1,
        "segment:at_risk": 1,
        "segment:dormant": 1,
    }


def test_configured_index_weights_are_used_and_stored_with_each_value(settings: Settings) -> None:
    weighted = msgspec.structs.replace(settings, index_weights={"flourish_mood": 1.0, "flourish_microact": 0.0})
    service = bootstrap(weighted, overrides=Overrides(clock=FixedClock(NOW)))
    try:
        person = uuid.uuid4()
        send(service, consent(person, analytics=True, at=at(20)))
        send(
            service,
            event("activation_mood_logged", person, {"activation_id": "a", "phase": "start", "mood": 5}, at=at(20)),
            event("microact_created", person, {"microact_id": "m", "category": "c"}, at=at(20)),
        )
        assert service.jobs.run("daily-indices", "2026-02-20").rows == 1
        subject = service.keys.subject_for(person, create=False)
        assert subject is not None
        indices = next(job for job in service.jobs.all() if isinstance(job, DailyIndices))
        stored = indices.of(subject, at(20).date())
        assert stored is not None
        assert (stored.weights.flourish_mood, stored.weights.flourish_microact) == (1.0, 0.0)
        assert stored.weights.add_value_wave == 0.25  # not configured: the default
    finally:
        service.close()
