"""The minimum group size of aggregate answers, on SQLite and PostgreSQL: values over too few people are withheld."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from application.reporting.reports import Reports
from entrypoints.bootstrap import Container

DAY = (datetime.now(UTC) - timedelta(days=5)).date()


def _indices(flourish: float) -> bytes:
    return f'{{"flourish": {{"value": {flourish}}}, "add_value": {{"value": {flourish / 2}}}}}'.encode()


def test_an_index_dashboard_withholds_mean_and_quartiles_of_fewer_people_than_the_minimum_and_rounds_the_rest(
    container: Container,
) -> None:
    view, analytics = container.user_days_view, container.analytics
    view.put_indices(DAY, {uuid.uuid4(): _indices(7.852631578947368)})
    (alone,) = analytics.index_dashboard("flourish", DAY, DAY).data["series"]
    assert alone["people"] == 1
    assert (alone["mean"], alone["p25"], alone["median"], alone["p75"]) == (None, None, None, None)
    assert "fewer than the minimum group size of 5" in alone["withheld"]

    view.put_indices(DAY, {uuid.uuid4(): _indices(v) for v in (10.01, 20.06, 30.02, 40.04)})
    (five,) = analytics.index_dashboard("flourish", DAY, DAY).data["series"]
    assert five["people"] == 5
    assert (five["mean"], five["p25"], five["median"], five["p75"]) == (21.6, 10.0, 20.1, 30.0)
    assert five["withheld"] is None


def test_segments_of_a_day_with_fewer_people_than_the_minimum_are_withheld(container: Container) -> None:
    reports, analytics = Reports(container.store), container.analytics
    reports.record("segments", DAY.isoformat(), {}, {"segment:active": 3, "segment:dormant": 1})
    few = analytics.segments(DAY).data
    assert few["value"] == 4
    assert few["breakdown"] == {"active": None, "dormant": None}
    assert "4 people" in few["withheld"]
    later = DAY + timedelta(days=1)
    reports.record("segments", later.isoformat(), {}, {"segment:active": 4, "segment:dormant": 1})
    enough = analytics.segments(later).data
    assert (enough["breakdown"], enough["withheld"]) == ({"active": 4, "dormant": 1}, None)


def test_an_executive_summary_withholds_the_mean_index_of_too_few_people_and_rounds_what_it_sends(
    container: Container,
) -> None:
    reports, analytics = Reports(container.store), container.analytics
    counts = {"monthly_active_people": 40, "previous_month_active_people": 3, "flourish_people": 2}
    reports.record(
        "executive-summary", "2026-01", counts, {"mean_flourish_index": 7.852631578947368, "churn_rate": 1 / 3}
    )
    data = analytics.executive_summary("2026-01").data
    assert data["breakdown"]["mean_flourish_index"] is None
    assert data["breakdown"]["churn_rate"] is None
    assert set(data["withheld"]) == {"mean_flourish_index", "churn_rate"}
    assert data["breakdown"]["monthly_active_people"] == 40  # counts are the groups' sizes, shown as they are

    # A summary recorded before the group was counted: its size is unknown, so its mean is withheld too.
    reports.record("executive-summary", "2025-12", {"monthly_active_people": 40}, {"mean_flourish_index": 61.25})
    assert analytics.executive_summary("2025-12").data["breakdown"]["mean_flourish_index"] is None

    reports.record(
        "executive-summary", "2026-02", {**counts, "flourish_people": 9}, {"mean_flourish_index": 7.852631578947368}
    )
    assert analytics.executive_summary("2026-02").data["breakdown"]["mean_flourish_index"] == 7.9
