"""What the API keeps in memory to answer faster: closed answers, verified tokens, the live counters, and
the batches of the access log's writer. Each is kept no longer than what it holds allows."""

from __future__ import annotations

import gc
import threading
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from uuid import uuid4

import jwt
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.api_access.tokens import InvalidToken, JwtTokens
from application.batching import Batcher
from application.errors import NotFound
from application.principals import Principal
from application.read_models.ports import LiveSnapshot
from application.reporting.daily_indices import PersonIndices
from application.reporting.queries import SUBJECT_KEPT_SECONDS, Analytics, Answer, AnswerCache
from domain.indices import IndexWeights, add_value, flourish
from domain.platform import PlatformDay
from entrypoints.http.auth import VerifiedTokens
from tests.fakes import FakeReports, FixedClock

SECRET = "s" * 40


class Ticker:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def answer(confidence: Any, value: int = 1) -> Answer:
    return Answer(
        data={"value": value}, calculated_at=datetime(2026, 1, 1, tzinfo=UTC), data_points=1, confidence=confidence
    )


# --- closed answers -------------------------------------------------------------------------------------------


def test_final_answers_are_kept_an_hour_closed_ones_a_minute_provisional_ones_never() -> None:
    ticker = Ticker()
    cache = AnswerCache(clock=ticker)
    for confidence in ("final", "closed", "provisional"):
        cache.put(confidence, answer(confidence))
    assert cache.get("provisional") is None
    assert cache.get("closed") == answer("closed")
    # docs/api.md: "about a `final` period for an hour, about a `closed` one for a minute".
    ticker.now += 59.9
    assert cache.get("closed") == answer("closed")
    ticker.now += 0.1
    assert cache.get("closed") is None
    assert cache.get("final") == answer("final")
    ticker.now += 3540
    assert cache.get("final") is None


def test_answers_are_kept_by_their_whole_key_and_the_least_recently_used_goes_first() -> None:
    cache = AnswerCache(max_entries=2, clock=Ticker())
    cache.put(("platform_summary", date(2026, 1, 1)), answer("final", 1))
    cache.put(("platform_summary", date(2026, 1, 2)), answer("final", 2))
    assert cache.get(("segments", date(2026, 1, 1))) is None
    assert cache.get(("platform_summary", date(2026, 1, 1))) == answer("final", 1)  # now the most recent
    cache.put(("platform_summary", date(2026, 1, 3)), answer("final", 3))
    assert cache.get(("platform_summary", date(2026, 1, 2))) is None
    assert cache.get(("platform_summary", date(2026, 1, 1))) == answer("final", 1)


# --- verified tokens ------------------------------------------------------------------------------------------


class Counting:
    def __init__(self, tokens: JwtTokens) -> None:
        self.tokens = tokens
        self.calls = 0

    def verify(self, token: str) -> Principal:
        self.calls += 1
        return self.tokens.verify(token)


def test_a_verified_token_is_not_checked_again_for_a_while_but_never_past_its_expiry() -> None:
    tokens = JwtTokens(SECRET, issuer="i", audience="a")
    counting = Counting(tokens)
    wall = Ticker()
    wall.now = datetime.now(UTC).timestamp()
    kept = VerifiedTokens(counting.verify, keep_for=60, clock=wall)
    long_lived = tokens.mint("ana", "analyst")
    assert kept.verify(long_lived) == Principal(subject="ana", role="analyst")
    assert kept.verify(long_lived) == Principal(subject="ana", role="analyst")
    assert counting.calls == 1
    wall.now += 60
    kept.verify(long_lived)
    assert counting.calls == 2  # checked again after keep_for

    wall.now = datetime.now(UTC).timestamp()
    short_lived = tokens.mint("bob", "user", valid_for=timedelta(seconds=5))
    kept.verify(short_lived)
    kept.verify(short_lived)
    assert counting.calls == 3
    wall.now += 5  # its exp: from now on the verifier decides again (it has a leeway of its own)
    kept.verify(short_lived)
    assert counting.calls == 4


def test_refused_tokens_are_not_kept() -> None:
    tokens = JwtTokens(SECRET, issuer="i", audience="a")
    counting = Counting(tokens)
    kept = VerifiedTokens(counting.verify)
    expired = tokens.mint("ana", "analyst", valid_for=timedelta(hours=-1))
    foreign = JwtTokens("x" * 40, issuer="i", audience="a").mint("ana", "admin")
    for token in (expired, foreign, expired, "not.a.token"):
        with pytest.raises(InvalidToken):
            kept.verify(token)
    assert counting.calls == 4


def test_a_full_token_cache_lets_its_oldest_token_go_not_all_of_them() -> None:
    tokens = JwtTokens(SECRET, issuer="i", audience="a")
    counting = Counting(tokens)
    kept = VerifiedTokens(counting.verify, max_tokens=2)
    first, second, third = (tokens.mint(name, "user") for name in ("a", "b", "c"))
    for token in (first, second, third):
        kept.verify(token)
    assert counting.calls == 3
    kept.verify(second)
    kept.verify(third)
    assert counting.calls == 3  # still kept: only the oldest made room
    kept.verify(first)
    assert counting.calls == 4


# --- real-time counters ---------------------------------------------------------------------------------------


class Live:
    def __init__(self) -> None:
        self.reads = 0
        self.applied = 0  # the projection's position

    def position(self) -> int:
        return self.applied

    def snapshot(self, now: datetime) -> LiveSnapshot:
        self.reads += 1
        return LiveSnapshot(
            as_of=now,
            daily_active_users=self.reads,
            online_now=0,
            microacts_today=0,
            wave_participants={},
            activations_in_progress=0,
        )


def live_only(live: Live, ticker: Ticker, **settings: Any) -> Analytics:
    """Analytics with only a live view: enough for the real-time counters."""
    return Analytics(
        keys=cast(Any, None),
        reports=cast(Any, None),
        user_days=cast(Any, None),
        person_reads=cast(Any, None),
        summaries=cast(Any, None),
        live=cast(Any, live),
        clock=FixedClock(datetime(2026, 3, 2, tzinfo=UTC)),
        monotonic=ticker,
        **settings,
    )


def test_the_live_counters_are_read_at_most_every_half_second() -> None:
    live, ticker = Live(), Ticker()
    analytics = live_only(live, ticker)
    assert analytics.fresh_realtime() is None  # nothing read yet: the caller reads, in a thread
    assert analytics.realtime().daily_active_users == 1
    ticker.now += 0.4
    assert analytics.realtime().daily_active_users == 1
    fresh = analytics.fresh_realtime()
    assert fresh is not None
    assert fresh.daily_active_users == 1
    ticker.now += 0.1
    assert analytics.fresh_realtime() is None
    assert analytics.realtime().daily_active_users == 2
    assert live.reads == 2


class SlowLive(Live):
    """A live view whose second and later reads wait until the test lets them finish."""

    def __init__(self) -> None:
        super().__init__()
        self.reading, self.finish = threading.Event(), threading.Event()

    def snapshot(self, now: datetime) -> LiveSnapshot:
        if self.reads >= 1:
            self.reading.set()
            assert self.finish.wait(10)
        return super().snapshot(now)


def test_the_live_feed_reads_the_counters_again_as_soon_as_the_projection_moved() -> None:
    live, ticker = Live(), Ticker()
    analytics = live_only(live, ticker)
    assert analytics.realtime(wait_for_fresh=True).daily_active_users == 1
    ticker.now += 0.1
    assert analytics.realtime(wait_for_fresh=True).daily_active_users == 1  # nothing applied: the reading holds
    live.applied += 5
    assert analytics.realtime(wait_for_fresh=True).daily_active_users == 2  # applied 0.1 s later: read at once
    assert analytics.realtime().daily_active_users == 2  # requests still take the reading at hand
    assert live.reads == 2


def test_while_one_caller_reads_the_live_counters_again_the_others_get_the_previous_reading() -> None:
    live, ticker = SlowLive(), Ticker()
    analytics = live_only(live, ticker, live_stale_limit=2.0)
    assert analytics.realtime().daily_active_users == 1
    ticker.now += 0.6  # stale: the next caller reads again, and that read hangs
    reader = threading.Thread(target=analytics.realtime)
    reader.start()
    assert live.reading.wait(10)
    # Meanwhile: the previous reading, at once, from both entries.
    fresh = analytics.fresh_realtime()
    assert fresh is not None
    assert fresh.daily_active_users == 1
    assert analytics.realtime().daily_active_users == 1
    # The poller waits for the reading under way.
    polled: list[int] = []
    poller = threading.Thread(target=lambda: polled.append(analytics.realtime(wait_for_fresh=True).daily_active_users))
    poller.start()
    poller.join(0.2)
    assert poller.is_alive()
    live.finish.set()
    reader.join(10)
    poller.join(10)
    assert polled == [2]  # it waited for the reading under way, then found it fresh
    # A reading that hangs past the stale limit: then no one is answered with the old one any more.
    live.finish.clear()
    ticker.now += 0.6
    reader = threading.Thread(target=analytics.realtime)
    reader.start()
    assert live.reading.wait(10)
    assert analytics.fresh_realtime() is not None
    ticker.now += 2.0
    assert analytics.fresh_realtime() is None
    live.finish.set()
    reader.join(10)
    assert live.reads == 3


class CountedReports(FakeReports):
    """Recorded reports that note each read: the days asked for, per call."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[list[date]] = []

    def day(self, day: date) -> PlatformDay | None:
        self.reads.append([day])
        return super().day(day)

    def closed_days(self, days: Any) -> dict[date, PlatformDay]:
        self.reads.append(sorted(days))
        return super().closed_days(days)


def test_a_range_of_closed_days_is_one_read_of_the_days_not_kept_and_a_day_shows_once_closed() -> None:
    reports, ticker = CountedReports(), Ticker()
    clock = FixedClock(datetime(2026, 3, 10, 12, tzinfo=UTC))
    analytics = Analytics(
        keys=cast(Any, None),
        reports=reports,
        user_days=cast(Any, type("Days", (), {"zone": UTC})()),
        person_reads=cast(Any, None),
        summaries=cast(Any, None),
        live=cast(Any, None),
        clock=clock,
        monotonic=ticker,
    )
    first, last = date(2026, 3, 1), date(2026, 3, 9)
    week = [first + timedelta(days=n) for n in range(9)]

    def dau() -> list[tuple[str, int]]:
        return [(p["date"], p["dau"]) for p in analytics.active_people_series(first, last).data["series"]]

    reports.close(date(2026, 3, 7), {"daily_active_people": 3})
    reports.close(date(2026, 3, 8), {"daily_active_people": 4})
    assert dau() == [("2026-03-07", 3), ("2026-03-08", 4)]
    assert reports.reads == [week]  # one read for the whole range
    reports.close(date(2026, 3, 9), {"daily_active_people": 5})  # closed after the first view: shows at the next
    assert dau() == [("2026-03-07", 3), ("2026-03-08", 4), ("2026-03-09", 5)]
    assert reports.reads[1] == [d for d in week if d not in (date(2026, 3, 7), date(2026, 3, 8))]  # kept ones not
    assert len(reports.reads) == 2


# --- batches --------------------------------------------------------------------------------------------------


def test_a_batcher_writes_what_queued_meanwhile_as_one_batch_in_order() -> None:
    started, go = threading.Event(), threading.Event()
    batches: list[list[int]] = []

    def write_many(items: Sequence[int]) -> list[int]:
        started.set()
        go.wait(10)
        batches.append(list(items))
        return [i * 10 for i in items]

    batcher: Batcher[int, int] = Batcher(write_many, name="test", max_items=50)
    first = batcher.submit(0)
    assert started.wait(10)
    rest = [batcher.submit(i) for i in range(1, 120)]
    go.set()
    assert [f.result(timeout=10) for f in [first, *rest]] == [i * 10 for i in range(120)]
    assert batches == [[0], list(range(1, 51)), list(range(51, 101)), list(range(101, 120))]
    assert (batcher.batches_written, batcher.items_written) == (4, 120)


def test_a_failed_batch_fails_each_of_its_callers_and_the_batcher_goes_on() -> None:
    def write_many(items: Sequence[int]) -> list[int]:
        if 13 in items:
            raise RuntimeError("the database said no")
        return list(items)

    batcher: Batcher[int, int] = Batcher(write_many, name="test-failing")
    with pytest.raises(RuntimeError, match="said no"):
        batcher.submit(13).result(timeout=10)
    assert batcher.submit(14).result(timeout=10) == 14


def test_the_batchers_thread_ends_when_the_batcher_is_gone() -> None:
    batcher: Batcher[int, int] = Batcher(list, name="test-short-lived")
    assert batcher.submit(1).result(timeout=10) == 1
    (thread,) = [t for t in threading.enumerate() if t.name == "test-short-lived"]
    del batcher
    gc.collect()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_a_token_signed_with_our_own_secret_is_kept_until_its_expiry_a_jwks_one_at_most_keep_for() -> None:
    tokens = JwtTokens(SECRET, issuer="i", audience="a")
    counting = Counting(tokens)
    wall = Ticker()
    wall.now = datetime.now(UTC).timestamp()
    kept = VerifiedTokens(counting.verify, keep_for=60, clock=wall, valid_until_expiry=tokens.valid_until_expiry)
    ours = tokens.mint("ana", "analyst", valid_for=timedelta(hours=1))
    kept.verify(ours)
    wall.now += 3_000  # 50 min: past keep_for, before exp
    kept.verify(ours)
    assert counting.calls == 1
    wall.now += 600  # past exp: the verifier is asked again (it has the real clock, so it still accepts)
    kept.verify(ours)
    assert counting.calls == 2


def test_only_hs256_tokens_without_a_kid_are_valid_until_expiry() -> None:
    tokens = JwtTokens(SECRET, issuer="i", audience="a")
    now = datetime.now(UTC)
    claims = {"sub": "ana", "iss": "i", "aud": "a", "iat": now, "exp": now + timedelta(hours=1), "role": "analyst"}
    assert tokens.valid_until_expiry(tokens.mint("ana", "analyst"))
    assert not tokens.valid_until_expiry(jwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": "k1"}))
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert not tokens.valid_until_expiry(jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": "k1"}))
    assert not tokens.valid_until_expiry("not.a.token")


# --- people's subjects ----------------------------------------------------------------------------------------


class Subjects:
    """A subject lookup that counts its reads, with an erasure register the test fills."""

    def __init__(self) -> None:
        self.subjects: dict[Any, Any] = {}
        self.erasures: set[Any] = set()
        self.lookups = self.checks = 0

    def subject_for(self, app_user_id: Any, *, create: bool = False) -> Any:
        self.lookups += 1
        return None if app_user_id in self.erasures else self.subjects.get(app_user_id)

    def erased(self, app_user_id: Any) -> bool:
        self.checks += 1
        return app_user_id in self.erasures


class OneIndex:
    """Per-person reads holding one index result for whichever subject is asked."""

    def __init__(self) -> None:
        self.asked: list[Any] = []

    def index_and_days(self, subject_id: Any, day: date, first: date) -> tuple[bytes | None, int]:
        self.asked.append(subject_id)
        found = PersonIndices(flourish=flourish([], day), add_value=add_value([], day), weights=IndexWeights())
        return msgspec.json.encode(found), 3


def test_a_persons_subject_is_looked_up_once_for_the_day_but_an_erasure_refuses_their_next_read_at_once() -> None:
    subjects, reads, ticker = Subjects(), OneIndex(), Ticker()
    person, subject = uuid4(), uuid4()
    subjects.subjects[person] = subject
    analytics = Analytics(
        keys=cast(Any, subjects),
        reports=FakeReports(),
        user_days=cast(Any, type("Days", (), {"zone": UTC})()),
        person_reads=cast(Any, reads),
        summaries=cast(Any, None),
        live=cast(Any, None),
        clock=FixedClock(datetime(2026, 3, 10, 12, tzinfo=UTC)),
        monotonic=ticker,
    )
    day = date(2026, 3, 9)
    for _ in range(3):
        ticker.now += 600  # ten minutes between reads: longer than any per-request cache of the gate
        assert analytics.flourish_index(person, day).data["metric"] == "flourish_index"
    assert subjects.lookups == 1  # found once, then kept
    assert subjects.checks == 2  # the erasure register is asked on every read that used the kept subject
    assert reads.asked == [subject] * 3
    subjects.erasures.add(person)
    with pytest.raises(NotFound):
        analytics.flourish_index(person, day)  # the very next read after the erasure request
    ticker.now += SUBJECT_KEPT_SECONDS  # past the bound: looked up again, and still refused
    with pytest.raises(NotFound):
        analytics.flourish_index(person, day)
    assert subjects.lookups == 2
