"""The batcher's writer thread: one transaction per queue-full, and it outlives callers who gave up."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import Future, InvalidStateError
from typing import Any

import pytest

from application.batching import Batcher, settle


def test_items_queued_while_a_batch_is_written_go_together_in_the_next() -> None:
    started = threading.Event()
    release = threading.Event()
    batches: list[list[int]] = []

    def write_many(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        started.set()
        release.wait(5)
        return [item * 2 for item in items]

    batcher: Batcher[int, int] = Batcher(write_many, name="test-batcher")
    first = batcher.submit(1)
    assert started.wait(5)  # the first is being written alone: the next ones queue behind it
    queued = [batcher.submit(n) for n in (2, 3, 4)]
    release.set()
    assert first.result(timeout=5) == 2
    assert [f.result(timeout=5) for f in queued] == [4, 6, 8]
    assert batches == [[1], [2, 3, 4]]
    assert batcher.batches_written == 2
    assert batcher.items_written == 4


def test_a_cancelled_future_does_not_stop_the_writer_thread() -> None:
    started = threading.Event()
    release = threading.Event()

    def write_many(items: Sequence[str]) -> list[str]:
        started.set()
        release.wait(5)
        return [item.upper() for item in items]

    batcher: Batcher[str, str] = Batcher(write_many, name="test-batcher")
    abandoned = batcher.submit("a")
    assert started.wait(5)  # being written: the caller gives up meanwhile
    assert abandoned.cancel()
    release.set()
    assert batcher.submit("b").result(timeout=5) == "B"  # hung for ever before


def _failing_batcher() -> tuple[Batcher[str, str], threading.Event, threading.Event]:
    """A batcher whose write starts (``started``), waits for ``release``, then fails."""
    started = threading.Event()
    release = threading.Event()

    def write_many(items: Sequence[str]) -> list[str]:
        started.set()
        release.wait(5)
        raise RuntimeError("disk full")

    return Batcher(write_many, name="test-batcher"), started, release


def test_a_failed_batch_reaches_every_caller_even_after_one_gave_up() -> None:
    batcher, started, release = _failing_batcher()
    abandoned = batcher.submit("a")
    assert started.wait(5)
    assert abandoned.cancel()
    kept = batcher.submit("b")
    release.set()
    with pytest.raises(RuntimeError, match="disk full"):
        kept.result(timeout=5)


def test_settle_still_raises_on_a_future_resolved_twice() -> None:
    future: Future[int] = Future()
    settle(future, 1)
    with pytest.raises(InvalidStateError):
        settle(future, 2)  # not cancelled: a bug of ours, not a caller who left
    cancelled: Future[int] = Future()
    cancelled.cancel()
    settle(cancelled, 3)
    settle(cancelled, error=ValueError("ignored"))
    assert cancelled.cancelled()


def test_results_awaited_on_an_event_loop_arrive_with_one_wake_up_per_batch() -> None:
    release = threading.Event()

    def write_many(items: Sequence[int]) -> list[int]:
        release.wait(5)
        return [item + 100 for item in items]

    batcher: Batcher[int, int] = Batcher(write_many, name="test-batcher")

    async def main() -> tuple[list[int], int]:
        loop = asyncio.get_running_loop()
        wake_ups = 0
        original = loop.call_soon_threadsafe

        def counting(*args: Any, **kwargs: Any) -> Any:
            nonlocal wake_ups
            wake_ups += 1
            return original(*args, **kwargs)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign,assignment]
        waiting = [batcher.submit_waiting(n) for n in range(20)]
        release.set()
        results = list(await asyncio.gather(*waiting))
        return results, wake_ups

    results, wake_ups = asyncio.run(main())
    assert results == [n + 100 for n in range(20)]
    assert batcher.batches_written <= 2  # the first item alone, perhaps, then the rest together
    assert wake_ups == batcher.batches_written  # one per batch, not one per item


def test_an_awaited_batch_that_fails_raises_in_each_caller_and_a_cancelled_one_is_skipped() -> None:
    batcher, started, release = _failing_batcher()

    async def main() -> None:
        given_up = asyncio.ensure_future(batcher.submit_waiting("a"))
        kept = batcher.submit_waiting("b")
        await asyncio.to_thread(started.wait, 5)
        given_up.cancel()
        release.set()
        with pytest.raises(RuntimeError, match="disk full"):
            await kept
        assert given_up.cancelled()

    asyncio.run(main())
    assert batcher.submit("c").exception(timeout=5) is not None  # the thread lives on
