"""Reading the log in pages: each event once, in order; with a byte budget, pages sized by their events."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from eventsourcing.persistence import Notification
from hypothesis import given
from hypothesis import strategies as st

from application.store import PAGE_SIZE, log_pages


class _Log:
    """A log whose event at position i holds ``sizes[i - 1]`` bytes; records the page sizes asked for."""

    def __init__(self, sizes: list[int]) -> None:
        self.rows = [
            Notification(id=i, originator_id=uuid.UUID(int=i), originator_version=1, topic="t", state=b"x" * n)
            for i, n in enumerate(sizes, start=1)
        ]
        self.asked: list[int] = []

    def __call__(
        self, start: int, limit: int, *, stop: int | None = None, topics: Sequence[str] = ()
    ) -> list[Notification]:
        self.asked.append(limit)
        last = len(self.rows) if stop is None else min(stop, len(self.rows))
        return self.rows[start - 1 : last][:limit]


@given(st.lists(st.integers(1, 5000), max_size=300), st.integers(1, 60), st.none() | st.integers(1, 40_000))
def test_every_event_comes_once_in_order_and_no_page_is_larger_than_asked(
    sizes: list[int], size: int, budget: int | None
) -> None:
    log = _Log(sizes)
    pages = list(log_pages(log, 1, stop=len(sizes), size=size, budget=budget))
    assert [n.id for page in pages for n in page] == list(range(1, len(sizes) + 1))
    assert all(1 <= asked <= size for asked in log.asked)


def test_with_a_budget_small_events_go_in_pages_up_to_the_most_and_large_ones_in_smaller_pages() -> None:
    small = _Log([400] * 60_000)  # one catalog event per stored event, as server-side sources write
    pages = [len(p) for p in log_pages(small, 1, stop=60_000, size=20_000, budget=8 * 2**20)]
    assert pages[0] == PAGE_SIZE
    assert max(pages) == 20_000
    large = _Log([9_000] * 5_000)  # batches of ~20 events of one person
    asked = [len(p) for p in log_pages(large, 1, stop=5_000, size=20_000, budget=8 * 2**20)]
    assert set(asked[1:-1]) == {8 * 2**20 // 9_000}  # 932 events: about what fits in 8 MiB
