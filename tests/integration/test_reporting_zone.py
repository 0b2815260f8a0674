"""A reporting time zone, on SQLite and PostgreSQL: days are that zone's days, in every read model and job."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime

import msgspec
import pytest

from application.principals import Principal
from application.reporting.reports import Reports
from entrypoints.bootstrap import Container, Overrides, bootstrap
from entrypoints.settings import Settings, SettingsError, load_settings
from tests.fakes import FixedClock, consent, event

SERVICE = Principal(subject="tests", role="service")
# 2 March 2026, 05:00 UTC is 18:00 the same day in Auckland (UTC+13 in summer).
NOW = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
EVENING_UTC = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)  # 09:00 on 2 March in Auckland


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def auckland(settings: Settings, clock: FixedClock) -> Iterator[Container]:
    built = bootstrap(
        msgspec.structs.replace(settings, reporting_timezone="Pacific/Auckland"),
        overrides=Overrides(clock=clock),
    )
    yield built
    built.close()


def test_an_event_counts_on_its_day_in_the_reporting_zone(auckland: Container, clock: FixedClock) -> None:
    person = uuid.uuid4()
    report = auckland.ingestion.ingest(
        [
            consent(person, analytics=True, at=EVENING_UTC),
            event("post_liked", person, {"post_id": "p"}, at=EVENING_UTC),
        ],
        sent_at=None,
        principal=SERVICE,
    )
    assert report.accepted == 2
    for projection in auckland.projections.values():
        projection.catch_up()
    local_day = date(2026, 3, 2)
    assert auckland.daily_counts_view.counts()[(local_day, "post_liked")] == 1
    assert auckland.user_days.active_people(local_day, local_day) == 1
    assert auckland.user_days.active_people(date(2026, 3, 1), date(2026, 3, 1)) == 0
    assert auckland.live_activity.snapshot(NOW).daily_active_users == 1  # "today" is 2 March in Auckland
    assert auckland.analytics.today() == local_day
    # A scheduled close-day run at 02:00 UTC on 3 March (15:00 in Auckland) closes Auckland's 2 March.
    close_at = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)
    assert auckland.jobs.period_for("close-day", close_at) == "2026-03-02"
    clock.current = close_at  # 2 March is over in Auckland: it may be closed (not before, see test_period_not_over)
    auckland.jobs.run("close-day", "2026-03-02")
    closed = Reports(auckland.store).day(local_day)
    assert closed is not None
    assert closed.totals["daily_active_people"] == 1


def test_an_unknown_reporting_zone_stops_start_up_with_the_variable_named(tmp_path: object) -> None:
    with pytest.raises(SettingsError, match="ADDVALUE_REPORTING_TIMEZONE"):
        load_settings(
            {"ADDVALUE_DATABASE_URL": f"sqlite:///{tmp_path}/a.db", "ADDVALUE_REPORTING_TIMEZONE": "Mars/Olympus"}
        )
