"""The sliding-window rule, without a database: the waits it announces are exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from application.api_access.ports import QuotaDecision
from application.api_access.quota import ApiQuota, current_window, decide

T0 = datetime(2030, 1, 1, tzinfo=UTC)  # a multiple of every window used here


class MemoryCounter:
    """The rule over a dict: what the database adapters do, minus the database."""

    def __init__(self, quota: ApiQuota, counts: dict[int, int] | None = None) -> None:
        self.quota, self.counts = quota, dict(counts or {})

    def hit(self, now: datetime) -> QuotaDecision:
        window = current_window(now, self.quota)
        current = self.counts.get(window.start, 0) + 1
        decision = decide(self.quota, window, self.counts.get(window.previous_start, 0), current)
        if decision.allowed:
            self.counts[window.start] = current
        return decision

    def copy(self) -> MemoryCounter:
        return MemoryCounter(self.quota, self.counts)


def test_a_full_window_refuses_until_the_previous_count_has_faded_enough() -> None:
    counter = MemoryCounter(ApiQuota(limit=10, window_seconds=100))
    assert [counter.hit(T0).remaining for _ in range(10)] == list(range(9, -1, -1))
    refused = counter.hit(T0 + timedelta(seconds=100))  # 10 x 100% of the previous window
    assert (refused.allowed, refused.retry_after, refused.reset_seconds) == (False, 10, 10)
    assert not counter.hit(T0 + timedelta(seconds=109, microseconds=999_999)).allowed
    assert counter.hit(T0 + timedelta(seconds=110)).allowed  # 10 x 90% + 1


def test_the_first_request_is_given_back_when_it_has_faded_out_of_the_next_window() -> None:
    first = MemoryCounter(ApiQuota(limit=10, window_seconds=100)).hit(T0 + timedelta(seconds=30))
    assert (first.allowed, first.remaining, first.reset_seconds, first.retry_after) == (True, 9, 170, None)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        current_window(datetime(2030, 1, 1), ApiQuota())  # naive: refused


states = st.builds(
    lambda quota, previous, current, offset_us: (quota, previous, current, offset_us),
    st.builds(ApiQuota, limit=st.integers(1, 40), window_seconds=st.integers(1, 7200)),
    st.integers(0, 80),
    st.integers(0, 80),
    st.integers(0, 10**10),
)


@settings(max_examples=300, deadline=None)
@given(state=states)
def test_after_reset_seconds_one_more_request_fits_and_a_second_earlier_it_does_not(
    state: tuple[ApiQuota, int, int, int],
) -> None:
    quota, previous, current, offset_us = state
    now = T0 + timedelta(microseconds=offset_us % (quota.window_seconds * 1_000_000))
    start = current_window(now, quota).start
    counter = MemoryCounter(quota, {start - quota.window_seconds: previous, start: current})
    decision = counter.hit(now)
    assert decision.retry_after == (None if decision.allowed else decision.reset_seconds)
    assert 0 <= decision.remaining < quota.limit
    later = counter.copy().hit(now + timedelta(seconds=decision.reset_seconds))
    assert later.allowed
    assert later.remaining >= decision.remaining
    sooner = counter.copy().hit(now + timedelta(seconds=decision.reset_seconds - 1))
    assert not sooner.allowed or sooner.remaining < decision.remaining
