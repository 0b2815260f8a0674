"""Export files are streamed: what is held while writing does not grow with the number of rows."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from adapters.exports.files import FORMATS, Format, encode
from application.reporting.day_jobs import HOURLY_EVENTS
from application.reporting.exports import DATASETS

_START = datetime(2024, 1, 1, tzinfo=UTC)


def _hours(n: int) -> Iterator[dict[str, Any]]:
    """``n`` hourly rows made on demand, as the reader makes them."""
    for k in range(n):
        counts = {name: (k * 7 + i) % 50 for i, name in enumerate(HOURLY_EVENTS)}
        yield {"hour": _START + timedelta(hours=k), **counts, "activation_completion_percent": 50.5}
        # (microacts_by_category and withheld are left null)


def _peak(fmt: Format, rows: int) -> tuple[int, int]:
    """The peak of Python allocations while writing, and the file's size."""
    tracemalloc.start()
    try:
        size = sum(len(chunk) for chunk in encode(DATASETS["hourly-activity"], _hours(rows), fmt, date.min, date.max))
        return tracemalloc.get_traced_memory()[1], size
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("fmt", FORMATS)
def test_two_years_of_hours_are_written_in_the_memory_of_a_quarter(fmt: Format) -> None:
    # A quarter is a few 1,000-row chunks: the peak is one chunk's rows and encoding, whatever the range.
    quarter, quarter_size = _peak(fmt, 90 * 24)
    two_years, two_years_size = _peak(fmt, 2 * 365 * 24)
    assert two_years_size > 5 * quarter_size  # the file did grow with the rows
    assert two_years < 1.5 * quarter, (quarter, two_years)  # what was held did not
