"""The real-time counters as the API reads them: at most every half second, and never waited for twice.

While one request reads the counters again, the others answer with the
previous reading (at most 2 s old) instead of waiting; the WebSocket poller
waits for the reading under way, as it must see each change, and reads again as
soon as the projection has moved (a cheap look at its position), so a change
reaches the sockets within a poll of being applied.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Protocol

from application.ports import Clock
from application.read_models.ports import LiveSnapshot

__all__ = ["LIVE_MAX_AGE_SECONDS", "LIVE_STALE_LIMIT_SECONDS", "LiveReadings"]

LIVE_MAX_AGE_SECONDS: Final = 0.5
# While one request reads the live counters again, the others answer with the previous reading, up to this old:
# a read takes milliseconds, and a request that waited for it would add them to its own time.
LIVE_STALE_LIMIT_SECONDS: Final = 2.0


class _Live(Protocol):
    def snapshot(self, now: datetime) -> LiveSnapshot: ...

    def position(self) -> int: ...


@dataclass(eq=False)
class LiveReadings:
    """The latest reading of the live counters (``live``), and whether someone is reading them again."""

    live: _Live
    clock: Clock
    max_age: float = LIVE_MAX_AGE_SECONDS
    stale_limit: float = LIVE_STALE_LIMIT_SECONDS
    monotonic: Callable[[], float] = time.monotonic
    # When it was read, the projection's position then, the reading.
    _live_read: tuple[float, int, LiveSnapshot] | None = field(default=None, init=False)
    _live_lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def fresh(self) -> LiveSnapshot | None:
        """The counters without waiting: the last reading if it is less than ``live_max_age`` seconds old, or
        less than ``live_stale_limit`` old while another caller reads them again; else None (call ``read``)."""
        read = self._live_read
        if read is None:
            return None
        age = self.monotonic() - read[0]
        if age < self.max_age or (age < self.stale_limit and self._live_lock.locked()):
            return read[2]
        return None

    def read(self, *, wait_for_fresh: bool = False) -> LiveSnapshot:
        """The counters, read at most every ``live_max_age`` seconds; one caller reads them, and the others get
        the previous reading meanwhile (if younger than ``live_stale_limit``) rather than wait for that read.
        ``wait_for_fresh``: wait for the reading under way instead (the WebSocket poller, which must see each
        change), which also reads again at once when the projection has applied events since the last reading."""
        fresh = None if wait_for_fresh else self.fresh()
        if fresh is not None:
            return fresh
        with self._live_lock:
            read = self._live_read
            position = self.live.position() if wait_for_fresh or read is None else read[1]
            if read is None or self.monotonic() - read[0] >= self.max_age or position != read[1]:
                read = (self.monotonic(), position, self.live.snapshot(self.clock.now()))
                self._live_read = read
            return read[2]
