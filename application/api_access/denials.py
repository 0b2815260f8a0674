"""Refused API requests (401, 403, 429), counted per minute instead of logged one row each.

Anyone can send requests that are refused, so one access-log record per
refusal would let anyone grow the permanent log at will. Refusals are
counted instead, per (minute, who, role, method, route, status), where "who"
is the caller's keyed hash when the token was valid, else the anonymised
network (``net:203.0.113.0``); each count becomes one record with
``requests`` = the count once its minute is over. Allowed requests stay one
record each.

Refusals are also limited (``DenialLimits``): past a burst of refused requests
from one network or one caller, the gate answers 429 at once.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import msgspec

from application.api_access.ports import AccessEntry, Outcome
from application.throttling import RateLimit, TokenBuckets

__all__ = ["DENIAL_LIMIT", "SUMMARY_PERIOD", "UNKNOWN_NETWORK", "DenialLimits", "DenialSummaries", "Refusal"]

SUMMARY_PERIOD = timedelta(minutes=1)
UNKNOWN_NETWORK = "unknown"  # a caller without an IP address
# One refusal a second on average, 60 at once: a mistyped token or a missing role shows quickly, a flood does not.
DENIAL_LIMIT = RateLimit(rate=1.0, burst=60.0)

# (minute, who, role, method, route, status, outcome): what one summary record stands for.
_Key = tuple[datetime, str, str, str, str, int, Outcome]


class Refusal(msgspec.Struct, frozen=True, kw_only=True):
    """One refused request, as the summary counts it."""

    at: datetime
    who: str
    role: str
    method: str
    route: str
    status: int
    outcome: Outcome


class DenialSummaries:
    """Counts refusals per minute and key; ``due`` hands back the counts of the minutes that are over."""

    def __init__(self) -> None:
        self._counts: dict[_Key, int] = {}
        self._lock = threading.Lock()

    def add(self, refusal: Refusal) -> None:
        r = refusal
        key = (_minute_of(r.at), r.who, r.role, r.method, r.route, r.status, r.outcome)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1

    def due(self, now: datetime) -> list[AccessEntry]:
        """The summaries of every minute before ``now``'s, oldest first, removed from the counts."""
        current = _minute_of(now)
        with self._lock:
            keys = sorted(k for k in self._counts if k[0] < current)
            counted = [(k, self._counts.pop(k)) for k in keys]
        return [_summary(k, n) for k, n in counted]

    def pending(self) -> bool:
        """Whether some refusals are counted and not yet handed back."""
        with self._lock:
            return bool(self._counts)

    def drain(self) -> list[AccessEntry]:
        """Every summary, the current minute's included (when the process stops)."""
        with self._lock:
            counted = sorted(self._counts.items())
            self._counts.clear()
        return [_summary(k, n) for k, n in counted]

    @staticmethod
    def next_due(now: datetime) -> datetime:
        """When the minute of ``now`` is over."""
        return _minute_of(now) + SUMMARY_PERIOD


class DenialLimits:
    """Token buckets of refused requests per anonymised network and per caller (in this process's memory)."""

    def __init__(self, limit: RateLimit = DENIAL_LIMIT) -> None:
        self._networks = TokenBuckets(limit)
        self._callers = TokenBuckets(limit)

    def take(self, network: str, caller: str | None) -> float:
        """0 when this refusal is within the limits; otherwise the seconds until it would be."""
        # Callers without an address (a Unix socket, a test client) are not put in one shared bucket.
        waits = [] if network == UNKNOWN_NETWORK else [self._networks.take(network, 1)]
        if caller is not None:
            waits.append(self._callers.take(caller, 1))
        return max(waits, default=0.0)


def _minute_of(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def _summary(key: _Key, count: int) -> AccessEntry:
    minute, who, role, method, route, status, outcome = key
    return AccessEntry(
        at=minute,
        principal=who,
        role=role,
        method=method,
        route=route,
        status=status,
        outcome=outcome,
        requests=count,
    )
