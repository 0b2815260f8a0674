"""Many callers' small writes in one transaction: a thread that writes whatever has queued, as one batch.

Callers :meth:`Batcher.submit` an item and wait on the returned future (an
asyncio handler with ``asyncio.wrap_future``, without a thread of its own).
One thread per batcher takes everything queued (at most ``max_items``) and
hands it to ``write_many``, which writes it in one transaction and returns one
result per item, in order. Each future is resolved with its item's result, or
with the error that stopped the batch: nothing is acknowledged before it is
committed. While one batch is being written the next one queues up, so under
load each transaction carries many items, and when idle an item is written at
once (no waiting for company).

The thread starts with the first item and ends after ``idle_seconds`` without
one, so a batcher that is no longer used holds no thread.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

__all__ = ["Batcher"]

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    def __init__(
        self,
        write_many: Callable[[Sequence[T]], Sequence[R]],
        *,
        name: str,
        max_items: int = 500,
        idle_seconds: float = 1.0,
    ) -> None:
        self._write_many = write_many
        self._name = name
        self._max_items = max_items
        self._idle = idle_seconds
        self._queued: deque[tuple[T, Future[R]]] = deque()
        self._ready = threading.Condition(threading.Lock())
        self._running = False
        self.batches_written = 0
        self.items_written = 0

    def submit(self, item: T) -> Future[R]:
        future: Future[R] = Future()
        with self._ready:
            self._queued.append((item, future))
            if self._running:
                self._ready.notify()
            else:
                self._running = True
                threading.Thread(target=self._run, name=self._name, daemon=True).start()
        return future

    def _run(self) -> None:
        while True:
            with self._ready:
                if not self._queued:
                    self._ready.wait(self._idle)
                    if not self._queued:
                        self._running = False  # a later submit starts a new thread
                        return
                n = min(len(self._queued), self._max_items)
                batch = [self._queued.popleft() for _ in range(n)]
            self._write(batch)

    def _write(self, batch: list[tuple[T, Future[R]]]) -> None:
        try:
            results = self._write_many([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{self._name}: {len(results)} results for {len(batch)} items")
        except BaseException as error:  # every waiting caller learns the batch failed
            for _, future in batch:
                future.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        self.batches_written += 1
        self.items_written += len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)
