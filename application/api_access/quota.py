"""Per-user API quota: a sliding-window counter kept in the database, so every worker sees one count.

Time is cut into fixed windows of ``window_seconds`` aligned on the Unix epoch;
each (user key, window start) has one counter. A request at elapsed fraction
``f`` of the current window sees

    used = previous window's count * (1 - f) + current window's count

and is allowed when ``used``, this request included, is at most ``limit``.
Allowed requests are counted; refused ones are not, so a client that keeps
retrying is let in as soon as the window has slid far enough.

Hits of concurrent requests may be counted together (``hit_many``, one
transaction): the hits of one user in one window are added at once and
decided one after the other, as if they had come one at a time in that order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Final

import msgspec

from application.api_access.ports import QuotaDecision

__all__ = ["ApiQuota", "Window", "current_window", "decide", "decide_many"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO: Final = timedelta(microseconds=1)


class ApiQuota(msgspec.Struct, frozen=True, kw_only=True):
    """At most ``limit`` requests per user in any ``window_seconds`` (sliding, as the module says)."""

    limit: Annotated[int, msgspec.Meta(ge=1)] = 1000
    window_seconds: Annotated[int, msgspec.Meta(ge=1)] = 3600


class Window(msgspec.Struct, frozen=True, kw_only=True):
    """The window a moment falls in: its start (Unix seconds) and how far into it (microseconds)."""

    start: int
    elapsed_us: int
    seconds: int

    @property
    def previous_start(self) -> int:
        return self.start - self.seconds


def current_window(now: datetime, quota: ApiQuota) -> Window:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware: pass the Clock's time (UTC)")
    since_epoch = (now - _EPOCH) // _MICRO
    start_us, elapsed_us = divmod(since_epoch, quota.window_seconds * 1_000_000)
    return Window(start=start_us * quota.window_seconds, elapsed_us=elapsed_us, seconds=quota.window_seconds)


def decide(quota: ApiQuota, window: Window, previous: int, current: int) -> QuotaDecision:
    """``current`` counts this request; when refused, the caller takes it back out of the count."""
    # Exact, in whole microseconds: ``used`` scaled by the window's length W is previous * (W - elapsed) +
    # current * W. (Fractions gave the same answers at several times the cost, on every API request.)
    size = window.seconds * 1_000_000
    fading = previous * (size - window.elapsed_us)
    allowed = fading + current * size <= quota.limit * size
    if not allowed:
        current -= 1
    remaining = max(0, (quota.limit * size - fading - current * size) // size)
    wait = _seconds_until(quota.limit - remaining - 1, previous, current, window)
    return QuotaDecision(
        allowed=allowed,
        limit=quota.limit,
        remaining=remaining,
        reset_seconds=wait,
        retry_after=None if allowed else wait,
    )


def decide_many(quota: ApiQuota, windows: Sequence[Window], previous: int, before: int) -> list[QuotaDecision]:
    """Requests of one user, one after the other (each at its own moment of the same window), when ``before``
    were counted in that window and ``previous`` in the one before.

    The caller has added one for each of them to the count; it takes back those
    refused: ``len(windows) - sum(d.allowed for d in the result)``.
    """
    decisions = []
    current = before
    for window in windows:
        current += 1
        decision = decide(quota, window, previous, current)
        if not decision.allowed:
            current -= 1
        decisions.append(decision)
    return decisions


def _seconds_until(target: int, previous: int, current: int, window: Window) -> int:
    """Whole seconds until ``used`` falls to ``target`` if no request comes meanwhile.

    Until this window ends the previous count fades linearly; then this
    window's count becomes the previous one and fades over the next window.
    In microseconds, exactly: the answer is the ceiling of ``numerator / denominator``.
    """
    size = window.seconds * 1_000_000
    if current <= target:
        if not previous:
            return 1  # already there
        # size * (1 - (target - current) / previous) - elapsed
        numerator = size * (previous - target + current) - window.elapsed_us * previous
        denominator = previous
    else:
        # size - elapsed + size * (1 - target / current)
        numerator = (size - window.elapsed_us) * current + size * (current - target)
        denominator = current
    return max(1, -(-numerator // (denominator * 1_000_000)))
