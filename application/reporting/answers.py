"""What every metric answer is: its data, how far it can be trusted, and how long it may be kept.

``confidence`` is ``final`` for a closed period no event can change any more,
``closed`` for one recomputed only if late events arrive, and ``provisional``
for one computed now from the live read models. Closed answers are kept in
memory (``AnswerCache``): a ``final`` one for an hour, a ``closed`` one for a
minute; provisional ones never.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import date, datetime
from typing import Any, Final, Generic, Literal, TypeVar

import msgspec

from application.errors import BadQuery

__all__ = [
    "CLOSED_KEPT_SECONDS",
    "FINAL_KEPT_SECONDS",
    "MAX_RANGE_DAYS",
    "Answer",
    "AnswerCache",
    "Confidence",
    "Kept",
    "check_range",
    "kept_for",
]

MAX_RANGE_DAYS: Final = 366
FINAL_KEPT_SECONDS: Final = 3600.0
CLOSED_KEPT_SECONDS: Final = 60.0
Confidence = Literal["final", "closed", "provisional"]


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    """One metric answer: ``data`` as the API shows it, and the metadata it is sent with."""

    data: dict[str, Any]
    calculated_at: datetime
    data_points: int
    confidence: Confidence
    formula_version: str | None = None

    @property
    def cacheable(self) -> bool:
        return self.confidence != "provisional"


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Kept(Generic[K, V]):
    """A bounded map whose entries expire ``seconds`` after they were put (monotonic time); thread-safe."""

    def __init__(self, *, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            if found[0] <= self._clock():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return found[1]

    def put(self, key: K, value: V, seconds: float) -> None:
        with self._lock:
            self._entries[key] = (self._clock() + seconds, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def kept_for(confidence: Confidence) -> float:
    return FINAL_KEPT_SECONDS if confidence == "final" else CLOSED_KEPT_SECONDS


class AnswerCache:
    """Answers about closed periods, by route and parameters: ``final`` ones for an hour, ``closed`` ones for a
    minute, ``provisional`` ones never. For aggregate routes only: a per-person answer must not outlive an
    erasure."""

    def __init__(self, *, max_entries: int = 4096, clock: Callable[[], float] = time.monotonic) -> None:
        self._kept: Kept[Hashable, Answer] = Kept(max_entries=max_entries, clock=clock)

    def get(self, key: Hashable) -> Answer | None:
        return self._kept.get(key)

    def put(self, key: Hashable, answer: Answer) -> None:
        if answer.cacheable:
            self._kept.put(key, answer, kept_for(answer.confidence))


def check_range(first: date, last: date) -> None:
    if last < first:
        raise BadQuery(f"'to' ({last.isoformat()}) is before 'from' ({first.isoformat()})")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise BadQuery(f"the range spans {(last - first).days + 1} days; at most {MAX_RANGE_DAYS} are allowed")
