"""Token buckets: bursts up to the limit, refill over time, keys independent."""

from __future__ import annotations

import math

import pytest

from application.throttling import RateLimit, TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_burst_up_to_the_limit_passes_then_the_wait_is_told(clock: Clock) -> None:
    buckets = TokenBuckets(RateLimit(rate=100, burst=500), clock=clock)
    assert [buckets.take("u", 100) for _ in range(5)] == [0.0] * 5
    assert buckets.take("u", 100) == pytest.approx(1.0)


def test_tokens_come_back_at_the_rate(clock: Clock) -> None:
    buckets = TokenBuckets(RateLimit(rate=100, burst=500), clock=clock)
    buckets.take("u", 500)
    clock.now = 0.5
    assert buckets.take("u", 50) == 0.0
    assert buckets.take("u", 50) == pytest.approx(0.5)


def test_each_key_has_its_own_bucket(clock: Clock) -> None:
    buckets = TokenBuckets(RateLimit(rate=1, burst=10), clock=clock)
    buckets.take("a", 10)
    assert buckets.take("b", 10) == 0.0
    assert buckets.take("a", 1) > 0


def test_a_request_larger_than_the_burst_can_never_pass(clock: Clock) -> None:
    assert TokenBuckets(RateLimit(rate=10, burst=100), clock=clock).take("u", 101) == math.inf


def test_a_zero_rate_turns_limiting_off(clock: Clock) -> None:
    buckets = TokenBuckets(RateLimit(rate=0, burst=0), clock=clock)
    assert buckets.take("u", 10**9) == 0.0


def test_the_number_of_buckets_is_bounded(clock: Clock) -> None:
    buckets = TokenBuckets(RateLimit(rate=1, burst=5), clock=clock, max_keys=3)
    for key in "abcd":
        buckets.take(key, 5)
    assert buckets.take("a", 5) == 0.0  # "a" was evicted: it starts full again
    assert buckets.take("d", 5) > 0
