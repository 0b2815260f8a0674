"""Per-day summaries of the index dashboards: how many people have each index, its mean and quartiles.

A day's summary is computed from its ~10,000 stored index results (about a
third of a second of CPU), so it is computed once and kept beside the indices
(``user_day_index_summaries``), valid while the day's version is unchanged.
The daily-indices job computes it right after it writes the day's indices, so
a dashboard never waits for it; after an erasure moves a day's version on, the
first dashboard read computes it again.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Final

import msgspec

from application.reporting.ports import IndexSummaries

__all__ = ["refresh_summary", "summarize"]


class _Value(msgspec.Struct):
    value: float


class _Values(msgspec.Struct):
    """Of a stored PersonIndices, only what the dashboards need (decoded without the rest)."""

    flourish: _Value
    add_value: _Value


_VALUES: Final = msgspec.json.Decoder(_Values)
INDEX_METRICS: Final = ("flourish", "add_value")


def refresh_summary(view: IndexSummaries, day: date) -> dict[str, dict[str, Any] | None]:
    """Compute ``day``'s summary from its stored indices and keep it (unless they changed meanwhile)."""
    version, raws = view.indices_with_version(day)
    summary = summarize(raws)
    view.put_index_summary(day, version, msgspec.json.encode(summary))
    return summary


def summarize(raws: list[bytes]) -> dict[str, dict[str, Any] | None]:
    """Each index's people, mean and quartiles over one day's stored results (None when nobody has one)."""
    decoded = [_VALUES.decode(raw) for raw in raws]
    found: dict[str, dict[str, Any] | None] = {}
    for metric in INDEX_METRICS:
        values = sorted(getattr(d, metric).value for d in decoded)
        found[metric] = (
            {
                "people": len(values),
                "mean": sum(values) / len(values),
                "p25": _quantile(values, 0.25),
                "median": _quantile(values, 0.5),
                "p75": _quantile(values, 0.75),
            }
            if values
            else None
        )
    return found


def _quantile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on sorted values."""
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
