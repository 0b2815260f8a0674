"""A pass over the log writes each projection's pages in a thread of its own (projections.catch_up_together)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

__all__ = ["PageWriters"]


class _Projection(Protocol):
    """What of a PagedProjection the writers use (a Protocol: projections.py imports this module)."""

    def position(self) -> int: ...

    def _apply_page(self, events: list[Any], position: int) -> None: ...


class PageWriters:
    """Each projection applies its pages in a thread of its own, while this one reads and decodes the next page.

    Applying a page is mostly waiting on the database (its merges and commit):
    done in turn, a rebuild of a mixed history waited on PostgreSQL about half
    its wall time (docs/performance.md, 2026-12-06). Each projection has one
    page in flight at most, in order, so its pages are written one after
    another as before; its position is kept here, not read back per page.
    A failed write is raised at that projection's next page, or at the end.
    """

    def __init__(self, projections: Sequence[_Projection], positions: Sequence[int]) -> None:
        """``positions``: where each projection stands now, as the pass has just read them."""
        self._positions = list(positions)
        self._projections = projections
        self._pool = ThreadPoolExecutor(max_workers=len(projections), thread_name_prefix="page-writer")
        self._writing: list[Future[None] | None] = [None] * len(projections)

    def __enter__(self) -> PageWriters:
        return self

    def apply(self, decoded: list[tuple[int, Any]], position: int) -> None:
        for i, projection in enumerate(self._projections):
            behind = self._positions[i]
            if behind >= position:
                continue
            self._wait(i)
            events = [e for n, e in decoded if n > behind]
            self._writing[i] = self._pool.submit(projection._apply_page, events, position)
            self._positions[i] = position

    def _wait(self, i: int) -> None:
        writing, self._writing[i] = self._writing[i], None
        if writing is not None:
            writing.result()

    def __exit__(self, error: type[BaseException] | None, *_: object) -> None:
        try:
            if error is None:  # else the error already raised wins
                for i in range(len(self._writing)):
                    self._wait(i)
        finally:
            self._pool.shutdown(wait=True)  # the writes in flight end before this returns, whatever happened
