"""The WebSocket's poller: one per process, started by the first client, stopped with the last."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime
from typing import Any, cast

from application.read_models.ports import LiveSnapshot
from entrypoints.http.realtime import LiveFeed


class _SlowCounters:
    """The analytics' live counters, each reading taking 0.1 s (counted)."""

    def __init__(self) -> None:
        self.reads = 0
        self._lock = threading.Lock()

    def realtime(self, *, wait_for_fresh: bool = False) -> LiveSnapshot:
        time.sleep(0.1)
        with self._lock:
            self.reads += 1
        return LiveSnapshot(
            as_of=datetime.now(UTC),
            daily_active_users=0,
            online_now=0,
            microacts_today=0,
            wave_participants={},
            activations_in_progress=0,
        )


def test_clients_arriving_together_share_one_poller_that_stops_with_the_last_of_them() -> None:
    counters = _SlowCounters()

    async def two_clients_come_and_go() -> int:
        feed = LiveFeed(cast(Any, counters), every=0.02)
        await asyncio.gather(feed.subscribe(), feed.subscribe())
        feed.unsubscribe()
        feed.unsubscribe()
        after_leaving = counters.reads
        await asyncio.sleep(0.5)  # a poller left behind would read about 4 more times meanwhile
        return counters.reads - after_leaving

    assert asyncio.run(two_clients_come_and_go()) <= 1  # at most a reading already under way finishes
