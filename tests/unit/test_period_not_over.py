"""A job period runs only once over in the reporting time zone: not today, a future day, an open week or month."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.periods import Cadence, PeriodNotOver, check_over, previous_period

AUCKLAND = ZoneInfo("Pacific/Auckland")  # UTC+13 in November: its days end at 11:00 UTC
# The fixed clock: 25 November 2026, 12:00 UTC, which is already 01:00 on Thursday 26 November in Auckland.
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cadence", "label", "earliest"),
    [
        ("day", "2026-11-26", datetime(2026, 11, 26, 11, 0, tzinfo=UTC)),  # today in Auckland
        ("day", "2026-12-01", datetime(2026, 12, 1, 11, 0, tzinfo=UTC)),  # a future day
        ("week", "2026-W48", datetime(2026, 11, 29, 11, 0, tzinfo=UTC)),  # Monday 23 to Sunday 29 November
        ("month", "2026-11", datetime(2026, 11, 30, 11, 0, tzinfo=UTC)),  # ends at midnight on 1 December
        ("hour", "2026-11-25T12", datetime(2026, 11, 25, 13, 0, tzinfo=UTC)),  # hours are UTC hours
    ],
)
def test_a_period_not_yet_over_in_the_reporting_zone_is_refused_with_the_earliest_time_it_may_run(
    cadence: Cadence, label: str, earliest: datetime
) -> None:
    with pytest.raises(PeriodNotOver) as refused:
        check_over(cadence, label, NOW, AUCKLAND)
    assert refused.value.earliest == earliest
    assert earliest.isoformat().replace("+00:00", "Z") in str(refused.value)
    assert "Pacific/Auckland" in str(refused.value) or cadence == "hour"
    check_over(cadence, label, earliest, AUCKLAND)  # from that instant on, it runs


@pytest.mark.parametrize(
    ("cadence", "label"),
    [
        ("day", "2026-11-25"),  # yesterday in Auckland, though still today in UTC
        ("week", "2026-W47"),
        ("month", "2026-10"),
        ("hour", "2026-11-25T11"),
    ],
)
def test_a_period_over_in_the_reporting_zone_may_run(cadence: Cadence, label: str) -> None:
    check_over(cadence, label, NOW, AUCKLAND)


@pytest.mark.parametrize("cadence", ["hour", "day", "week", "month"])
@pytest.mark.parametrize("zone", [ZoneInfo("UTC"), AUCKLAND, ZoneInfo("America/Los_Angeles")])
def test_the_period_a_scheduled_run_computes_is_always_over(cadence: Cadence, zone: ZoneInfo) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    for _ in range(1000):  # January to July: month ends, both zones' daylight-saving changes, odd minutes
        check_over(cadence, previous_period(cadence, at, zone), at, zone)
        at += timedelta(hours=5, minutes=7)
