"""Token buckets: per person and per network, so one sender cannot crowd out the rest.

Used by the ingest guard (events per second) and by the API gate for refused
requests (application/api_access/denials.py), so it belongs to neither.

Each key (a user id, a token subject, an anonymized network) has a bucket of
``burst`` events, refilled at ``rate`` events per second. A request takes as
many tokens as it carries events; when they are not there, it is refused
whole with the seconds to wait until they will be (HTTP 429, Retry-After).
Buckets live in this process's memory and are bounded in number.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import msgspec

__all__ = ["RateLimit", "TokenBuckets"]


class RateLimit(msgspec.Struct, frozen=True, kw_only=True):
    """``rate`` events per second on average, up to ``burst`` at once; 0 turns the limit off."""

    rate: float
    burst: float

    @property
    def enabled(self) -> bool:
        return self.rate > 0


class TokenBuckets:
    def __init__(
        self, limit: RateLimit, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self._limit = limit
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, as of)
        self._lock = threading.Lock()

    def take(self, key: str, amount: float) -> float:
        """0 when ``amount`` tokens were taken; otherwise the seconds until they would be there."""
        if not self._limit.enabled:
            return 0.0
        if amount > self._limit.burst:
            # Never possible in one go: the wait is for a full bucket, and the request must shrink.
            return math.inf
        now = self._clock()
        with self._lock:
            tokens, as_of = self._buckets.pop(key, (self._limit.burst, now))
            tokens = min(self._limit.burst, tokens + (now - as_of) * self._limit.rate)
            wait = 0.0
            if tokens >= amount:
                tokens -= amount
            else:
                wait = (amount - tokens) / self._limit.rate
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)  # the longest idle, whose bucket is fullest anyway
        return wait
