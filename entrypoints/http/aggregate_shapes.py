"""The shapes of the aggregate answers whose values may be withheld, for the OpenAPI document.

Bodies are still encoded by ``envelope.answered``; these structs only tell OpenAPI (and its
readers) which fields are ``null`` below the minimum group size and where the reason is
(application/reporting/group_size.py).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from entrypoints.http.envelope import Metadata

__all__ = ["IndexDashboardAnswer", "PeriodSummaryAnswer", "SegmentsAnswer"]


class IndexPoint(msgspec.Struct, frozen=True):
    """One day: ``people`` with the index; mean and quartiles rounded to one decimal, null when withheld."""

    date: str
    people: int
    mean: float | None
    p25: float | None
    median: float | None
    p75: float | None
    withheld: str | None  # why the values are null: fewer people than ADDVALUE_MIN_GROUP_SIZE


class IndexDashboard(msgspec.Struct, frozen=True, rename={"from_": "from"}):
    metric: Literal["flourish_index", "add_value_index"]
    from_: str
    to: str
    series: list[IndexPoint]


class IndexDashboardAnswer(msgspec.Struct, frozen=True):
    status: Literal["success"]
    data: IndexDashboard
    metadata: Metadata


class Segments(msgspec.Struct, frozen=True):
    """``value``: the day's people; ``breakdown``: per segment, all null when ``value`` is under the minimum."""

    metric: Literal["segments"]
    date: str
    value: int
    breakdown: dict[str, int | None]
    withheld: str | None


class SegmentsAnswer(msgspec.Struct, frozen=True):
    status: Literal["success"]
    data: Segments
    metadata: Metadata


class PeriodSummary(msgspec.Struct, frozen=True):
    """Counts as they are; rates and means rounded to one decimal, null when their group is too small.

    ``withheld`` names each null figure and why.
    """

    metric: Literal["weekly_summary", "monthly_summary", "executive_summary"]
    period: str
    breakdown: dict[str, float | None]
    withheld: dict[str, str]


class PeriodSummaryAnswer(msgspec.Struct, frozen=True):
    status: Literal["success"]
    data: PeriodSummary
    metadata: Metadata
