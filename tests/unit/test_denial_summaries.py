"""Refused API requests are counted per minute and key, and limited per network and caller."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from application.api_access.access_log import GENESIS_HASH, ChainHead, canonical_bytes, seal
from application.api_access.denials import UNKNOWN_NETWORK, DenialLimits, DenialSummaries, Refusal
from application.throttling import RateLimit

T0 = datetime(2030, 1, 1, 12, 0, 5, tzinfo=UTC)


def refusal(at: datetime, who: str = "net:203.0.113.0", status: int = 401) -> Refusal:
    outcome = "rate_limited" if status == 429 else "denied"
    return Refusal(at=at, who=who, role="-", method="GET", route="/api/realtime/dau", status=status, outcome=outcome)


def test_refusals_of_one_minute_become_one_counted_summary_once_the_minute_is_over() -> None:
    summaries = DenialSummaries()
    for i in range(25):
        summaries.add(refusal(T0 + timedelta(seconds=i)))
    summaries.add(refusal(T0, who="caller-key", status=403))
    summaries.add(refusal(T0 + timedelta(minutes=1)))
    assert summaries.due(T0 + timedelta(seconds=50)) == []  # the minute is not over
    due = summaries.due(T0 + timedelta(minutes=1))
    assert [(e.principal, e.status, e.requests, e.at) for e in due] == [
        ("caller-key", 403, 1, T0.replace(second=0)),
        ("net:203.0.113.0", 401, 25, T0.replace(second=0)),
    ]
    assert summaries.pending()
    (last,) = summaries.drain()
    assert (last.requests, last.at) == (1, T0.replace(second=0) + timedelta(minutes=1))
    assert not summaries.pending()


def test_a_summary_hashes_its_count_and_a_single_request_hashes_as_records_always_did() -> None:
    summary = DenialSummaries()
    summary.add(refusal(T0))
    summary.add(refusal(T0))
    (entry,) = summary.drain()
    record = seal(entry, ChainHead(seq=0, hash=GENESIS_HASH), None)
    assert b'"requests":2' in canonical_bytes(record)
    single = seal(msgspec.structs.replace(entry, requests=1), ChainHead(seq=0, hash=GENESIS_HASH), None)
    assert b"requests" not in canonical_bytes(single)


def test_refusals_past_the_burst_wait_per_network_and_per_caller_but_not_for_unknown_addresses() -> None:
    limits = DenialLimits(RateLimit(rate=1.0, burst=3.0))
    assert [limits.take("203.0.113.0", None) > 0 for _ in range(4)] == [False, False, False, True]
    assert limits.take("198.51.100.0", "key-a") == 0  # another network, another caller
    assert [limits.take(UNKNOWN_NETWORK, "key-b") > 0 for _ in range(4)] == [False, False, False, True]
    assert all(limits.take(UNKNOWN_NETWORK, None) == 0 for _ in range(10))
