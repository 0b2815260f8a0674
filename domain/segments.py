"""User segments: where a person stands on a given day, from the days they were active.

Definitions (``on`` is the day classified; a week is 7 days ending that day):

- ``new``: first active within the last week.
- ``active``: active in the last week and in the week before it.
- ``returning``: active in the last week, not in the week before, but earlier.
- ``at_risk``: not active in the last week, active in the week before it.
- ``dormant``: not active in the last two weeks, active before.

A day counts as active when the person has at least one collected event on it
(UTC). Days after ``on`` are ignored, so a classification never changes once
its day is over.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, timedelta
from typing import Final, Literal

__all__ = ["SEGMENTS", "Segment", "classify"]

Segment = Literal["new", "active", "returning", "at_risk", "dormant"]
SEGMENTS: Final[tuple[Segment, ...]] = ("new", "active", "returning", "at_risk", "dormant")
_WEEK: Final = timedelta(days=7)


def classify(active_days: Collection[date], on: date) -> Segment | None:
    """The segment on day ``on``, or None for someone not yet seen by then."""
    seen = [d for d in active_days if d <= on]
    if not seen:
        return None
    this_week_starts, last_week_starts = on - _WEEK + timedelta(days=1), on - 2 * _WEEK + timedelta(days=1)
    if min(seen) >= this_week_starts:
        return "new"
    this_week = any(d >= this_week_starts for d in seen)
    last_week = any(last_week_starts <= d < this_week_starts for d in seen)
    if this_week:
        return "active" if last_week else "returning"
    return "at_risk" if last_week else "dormant"
