"""Many callers' small writes in one transaction: a thread that writes whatever has queued, as one batch.

Callers :meth:`Batcher.submit` an item and wait on the returned future; an
asyncio handler awaits :meth:`Batcher.submit_waiting` instead, without a
thread of its own. Its results go back to its event loop with one
``call_soon_threadsafe`` per batch, not one per item as ``asyncio.wrap_future``
does (each is a wake-up of the loop through its self-pipe: about 6% of the
API's server time in bench/api.py).
One thread per batcher takes everything queued (at most ``max_items``) and
hands it to ``write_many``, which writes it in one transaction and returns one
result per item, in order. Each future is resolved with its item's result, or
with the error that stopped the batch: nothing is acknowledged before it is
committed. While one batch is being written the next one queues up, so under
load each transaction carries many items, and when idle an item is written at
once (no waiting for company).

The thread starts with the first item and lives as long as the batcher: it
keeps its database connection (a SQLite file's connection is per thread), and
ends once the batcher is garbage-collected (an app that is gone, in tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from typing import Generic, TypeVar

__all__ = ["Batcher", "settle"]

T = TypeVar("T")
R = TypeVar("R")

# A caller's future: a thread's (``submit``) or an event loop's (``submit_waiting``).
_Waiter = Future[R] | asyncio.Future[R]


def settle(future: Future[R], result: R | None = None, *, error: BaseException | None = None) -> None:
    """Resolve ``future`` with ``result`` (or ``error``), unless its caller has given up on it.

    A request whose client went away, or whose handler timed out, cancels the asyncio future wrapping this
    one (``asyncio.wrap_future``), and that cancels this one too. Setting a result on it then raises
    ``InvalidStateError`` in the writer thread, which ended the thread: every later write queued behind it
    hung for good. A cancelled future is skipped; any other state error is a bug and still raises.
    """
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]
    except InvalidStateError:
        if not future.cancelled():
            raise


class _Queue(Generic[T, R]):
    """What the batcher and its thread share; the thread holds this, not the batcher."""

    def __init__(self) -> None:
        self.items: deque[tuple[T, _Waiter[R]]] = deque()
        self.ready = threading.Condition(threading.Lock())
        self.running = False
        self.closed = False
        self.waiting = False  # the thread is asleep in ``ready.wait()``: only then is it woken

    def close(self) -> None:
        with self.ready:
            self.closed = True
            self.ready.notify()


class Batcher(Generic[T, R]):
    def __init__(
        self,
        write_many: Callable[[Sequence[T]], Sequence[R]],
        *,
        name: str,
        max_items: int = 500,
    ) -> None:
        self._write_many = write_many
        self._name = name
        self._max_items = max_items
        self._queue: _Queue[T, R] = _Queue()
        self._counts = [0, 0]  # batches, items written
        weakref.finalize(self, self._queue.close)

    @property
    def batches_written(self) -> int:
        return self._counts[0]

    @property
    def items_written(self) -> int:
        return self._counts[1]

    def submit(self, item: T) -> Future[R]:
        future: Future[R] = Future()
        self._enqueue(item, future)
        return future

    def submit_waiting(self, item: T) -> Awaitable[R]:
        """``item``'s result, awaited on the running event loop (resolved there with the rest of its batch)."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._enqueue(item, future)
        return future

    def _enqueue(self, item: T, future: _Waiter[R]) -> None:
        queue = self._queue
        with queue.ready:
            queue.items.append((item, future))
            if queue.waiting:
                # A thread that is writing takes this item with its next batch without being told: waking it
                # only when it sleeps spared a notify per request (bench/api.py, issue 22).
                queue.ready.notify()
            elif not queue.running:
                queue.running = True
                args = (queue, self._write_many, self._name, self._max_items, self._counts)
                threading.Thread(target=_run, args=args, name=self._name, daemon=True).start()


def _run(
    queue: _Queue[T, R],
    write_many: Callable[[Sequence[T]], Sequence[R]],
    name: str,
    max_items: int,
    counts: list[int],
) -> None:
    while True:
        with queue.ready:
            while not queue.items and not queue.closed:
                queue.waiting = True
                queue.ready.wait()
                queue.waiting = False
            if not queue.items:  # closed, and nothing left to write
                return
            n = min(len(queue.items), max_items)
            batch = [queue.items.popleft() for _ in range(n)]
        _write(batch, write_many, name, counts)


def _write(
    batch: list[tuple[T, _Waiter[R]]],
    write_many: Callable[[Sequence[T]], Sequence[R]],
    name: str,
    counts: list[int],
) -> None:
    try:
        results = write_many([item for item, _ in batch])
        if len(results) != len(batch):
            raise RuntimeError(f"{name}: {len(results)} results for {len(batch)} items")
    except BaseException as error:  # every waiting caller learns the batch failed
        failed: list[_Outcome[R]] = [(future, None, error) for _, future in batch]
        _hand_back(failed)
        if not isinstance(error, Exception):
            raise
        return
    counts[0] += 1
    counts[1] += len(batch)
    _hand_back([(future, result, None) for (_, future), result in zip(batch, results, strict=True)])


_Outcome = tuple[_Waiter[R], R | None, BaseException | None]


def _hand_back(outcomes: list[_Outcome[R]]) -> None:
    """Resolve thread futures here, and each event loop's futures in one call on that loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome[R]]] = {}
    for outcome in outcomes:
        future = outcome[0]
        if isinstance(future, asyncio.Future):
            by_loop.setdefault(future.get_loop(), []).append(outcome)
        else:
            settle(future, outcome[1], error=outcome[2])
    for loop, theirs in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is left to tell
            loop.call_soon_threadsafe(_settle_on_loop, theirs)


def _settle_on_loop(outcomes: list[_Outcome[R]]) -> None:
    for future, result, error in outcomes:
        if future.done():  # cancelled: the request was given up
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]
