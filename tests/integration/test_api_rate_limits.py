"""Per-user API quota counted in SQLite and PostgreSQL: one count for every worker, a window that slides."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from adapters.api_access.quota import PostgresApiRateCounter, SqliteApiRateCounter, build_api_rate_counter
from adapters.database_url import Database
from application.api_access.ports import QuotaDecision
from application.api_access.quota import ApiQuota
from entrypoints.settings import Settings

T0 = datetime(2030, 1, 1, tzinfo=UTC)  # a multiple of every window used here
Counter = SqliteApiRateCounter | PostgresApiRateCounter
SMALL = ApiQuota(limit=10, window_seconds=100)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def db(settings: Settings) -> Database:
    return settings.database


@pytest.fixture
def counters(db: Database) -> Iterator[list[Counter]]:
    """Two instances on one database, as two worker processes would have."""
    built = [build_api_rate_counter(db, SMALL), build_api_rate_counter(db, SMALL)]
    yield built
    for counter in built:
        counter.close()


def stored_windows(db: Database) -> list[tuple[str, int]]:
    sql = "SELECT key, window_start FROM {} ORDER BY window_start"
    if db.kind == "sqlite":
        with sqlite3.connect(db.sibling("api_limits")) as conn:
            return conn.execute(sql.format("api_rate_windows")).fetchall()
    with psycopg.connect(db.url) as conn:
        return conn.execute(sql.format(f'"{db.schema}".api_rate_windows')).fetchall()


def test_a_thousand_requests_an_hour_pass_and_the_next_gets_429_with_a_retry_after(db: Database) -> None:
    counter = build_api_rate_counter(db, ApiQuota())
    try:
        decisions = [counter.hit("user-a", at(1)) for _ in range(1000)]
        assert all(d.allowed for d in decisions)
        assert [d.remaining for d in decisions[:3]] == [999, 998, 997]
        assert decisions[-1].remaining == 0
        refused = counter.hit("user-a", at(1))
        assert (refused.allowed, refused.limit, refused.remaining) == (False, 1000, 0)
        # The 1000 fade out of the next hour; one has gone after 3600 - 1 + 3.6 s.
        assert refused.retry_after == refused.reset_seconds == 3603
    finally:
        counter.close()


def test_users_are_counted_apart(counters: list[Counter]) -> None:
    one = counters[0]
    for _ in range(10):
        one.hit("user-a", at(0))
    assert not one.hit("user-a", at(0)).allowed
    other = one.hit("user-b", at(0))
    assert (other.allowed, other.remaining) == (True, 9)


def test_two_instances_share_one_count(counters: list[Counter]) -> None:
    decisions = [counters[i % 2].hit("user-a", at(5)) for i in range(11)]
    assert [d.remaining for d in decisions[:10]] == list(range(9, -1, -1))
    assert [d.allowed for d in decisions] == [True] * 10 + [False]


def test_the_window_slides_and_refused_requests_do_not_count(counters: list[Counter]) -> None:
    counter = counters[0]
    for _ in range(10):
        counter.hit("user-a", at(0))
    # Next window: the previous 10 still weigh 10 x (1 - 0) ... 10 x (1 - 0.1).
    assert decision(counter, at(100)) == (False, 0, 10, 10)
    assert decision(counter, at(105)) == (False, 0, 5, 5)
    assert decision(counter, at(109.999)) == (False, 0, 1, 1)
    assert decision(counter, at(110)) == (True, 0, 10, None)  # 10 x 0.9 + 1 = 10
    assert decision(counter, at(150)) == (True, 3, 10, None)  # 10 x 0.5 + 2 = 7
    assert decision(counter, at(250)) == (True, 8, 50, None)  # 2 x 0.5 + 1: the refused ones were not counted


def decision(counter: Counter, now: datetime) -> tuple[bool, int, int, int | None]:
    d: QuotaDecision = counter.hit("user-a", now)
    return d.allowed, d.remaining, d.reset_seconds, d.retry_after


def test_windows_older_than_the_previous_are_pruned(counters: list[Counter], db: Database) -> None:
    counter = counters[0]
    counter.hit("user-a", at(0))
    counter.hit("user-b", at(150))
    assert [w for _, w in stored_windows(db)] == [int(at(0).timestamp()), int(at(100).timestamp())]
    counter.hit("user-b", at(250))
    assert stored_windows(db) == [("user-b", int(at(100).timestamp())), ("user-b", int(at(200).timestamp()))]


def test_concurrent_requests_from_two_instances_never_exceed_the_limit(db: Database) -> None:
    quota = ApiQuota(limit=50, window_seconds=3600)
    counters = [build_api_rate_counter(db, quota), build_api_rate_counter(db, quota)]
    allowed: list[bool] = []
    lock = threading.Lock()

    def hammer(counter: Counter) -> None:
        for _ in range(30):
            ok = counter.hit("user-a", at(10)).allowed
            with lock:
                allowed.append(ok)

    threads = [threading.Thread(target=hammer, args=(counters[t % 2],)) for t in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert (len(allowed), allowed.count(True)) == (120, 50)
    finally:
        for counter in counters:
            counter.close()


def test_a_batch_of_hits_decides_as_the_same_hits_one_at_a_time(counters: list[Counter]) -> None:
    batched, single = counters
    # Two users interleaved, over the limit of 10, across the end of a window (at 100 s), refusals included.
    moments = [at(90 + i * 0.5) for i in range(30)]
    plan = [(("a" if i % 3 else "b"), moment) for i, moment in enumerate(moments)]
    one_at_a_time = [single.hit("single-" + key, moment) for key, moment in plan]
    together = batched.hit_many([("batched-" + key, moment) for key, moment in plan])
    assert together == one_at_a_time
    assert any(not d.allowed for d in together)
    assert batched.hit_many([]) == []
    # What was counted (refusals taken back) is the same too.
    later = at(130)
    assert batched.hit_many([("batched-a", later), ("batched-b", later)]) == [
        single.hit("single-a", later),
        single.hit("single-b", later),
    ]
