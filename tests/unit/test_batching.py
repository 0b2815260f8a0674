"""The batcher's writer thread: one transaction per queue-full, and it outlives callers who gave up."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future, InvalidStateError

import pytest

from application.batching import Batcher, settle


def test_items_queued_while_a_batch_is_written_go_together_in_the_next() -> None:
    release = threading.Event()
    batches: list[list[int]] = []

    def write_many(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        release.wait(5)
        return [item * 2 for item in items]

    batcher: Batcher[int, int] = Batcher(write_many, name="test-batcher")
    first = batcher.submit(1)
    queued = [batcher.submit(n) for n in (2, 3, 4)]
    release.set()
    assert first.result(timeout=5) == 2
    assert [f.result(timeout=5) for f in queued] == [4, 6, 8]
    assert batches[0] == [1] or batches[0] == [1, 2, 3, 4]
    assert sum(len(b) for b in batches) == 4
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


def test_a_failed_batch_reaches_every_caller_even_after_one_gave_up() -> None:
    started = threading.Event()
    release = threading.Event()

    def write_many(items: Sequence[str]) -> list[str]:
        started.set()
        release.wait(5)
        raise RuntimeError("disk full")

    batcher: Batcher[str, str] = Batcher(write_many, name="test-batcher")
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
