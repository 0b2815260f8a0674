"""/api/realtime: today's counters as they move, by request or pushed over a WebSocket.

One ``LiveFeed`` polls the counters for all WebSocket clients of the process: every 0.1 s it looks at
the live projection's position and reads the counters again when it moved (else every 0.5 s), so an
ingested event reaches every socket within a second, whichever worker applied it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Final

import anyio.to_thread
import msgspec
import structlog
from litestar import Response, WebSocket, get, websocket
from litestar.exceptions import WebSocketDisconnect
from litestar.params import SkipValidation

from application.read_models.ports import LiveSnapshot
from application.reporting.queries import Analytics
from entrypoints.http import envelope
from entrypoints.http.dependencies import Reads
from entrypoints.http.envelope import ERRORS, Envelope
from entrypoints.http.socket_gate import SocketGate

__all__ = ["ROUTES", "LiveFeed"]

log = structlog.get_logger(__name__)


class LiveFeed:
    """One poller of the real-time counters for all WebSocket clients; each gets a change within 0.2 s of
    the projection applying it."""

    def __init__(self, analytics: Analytics, *, every: float = 0.1) -> None:
        self._analytics = analytics
        self._every = every
        self._latest: bytes | None = None
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._listeners = 0
        # Clients arriving together: the first reads the snapshot and starts the poller, the others wait for
        # it (two first readers started two pollers, and one was never cancelled).
        self._subscribing = asyncio.Lock()

    async def subscribe(self) -> bytes:
        """The current snapshot; starts the poller with the first client."""
        async with self._subscribing:
            self._listeners += 1
            if self._task is None or self._task.done():
                try:
                    self._latest = await self._read()
                except BaseException:
                    self._listeners -= 1
                    raise
                self._task = asyncio.create_task(self._poll())
            assert self._latest is not None
            return self._latest

    def unsubscribe(self) -> None:
        self._listeners -= 1
        if self._listeners == 0 and self._task is not None:
            self._task.cancel()
            self._task = None

    async def next_change(self, seen: bytes) -> bytes:
        async with self._changed:
            await self._changed.wait_for(lambda: self._latest is not None and self._latest != seen)
            assert self._latest is not None
            return self._latest

    async def _read(self) -> bytes:
        return _body(await self._reading())

    async def _reading(self) -> LiveSnapshot:
        return await anyio.to_thread.run_sync(lambda: self._analytics.realtime(wait_for_fresh=True))

    async def _poll(self) -> None:
        last: LiveSnapshot | None = None
        while True:
            await asyncio.sleep(self._every)
            try:
                snapshot = await self._reading()
            except Exception:  # the database may be away for a while; clients keep the last snapshot
                log.warning("realtime.read_failed", exc_info=True)
                continue
            if snapshot is last:  # the same reading (nothing moved, not yet 0.5 s old): nothing to compare
                continue
            last, fresh = snapshot, _body(snapshot)
            if _without_time(fresh) != _without_time(self._latest):
                async with self._changed:
                    self._latest = fresh
                    self._changed.notify_all()


def _body(snapshot: LiveSnapshot) -> bytes:
    return envelope.live_body(msgspec.to_builtins(snapshot))


def _without_time(snapshot: bytes | None) -> Any:
    if snapshot is None:
        return None
    decoded = msgspec.json.decode(snapshot)
    decoded["data"].pop("as_of", None)
    decoded.pop("metadata", None)
    return decoded


async def _live(analytics: Analytics, pick: Callable[[LiveSnapshot], dict[str, Any]]) -> Response[Envelope]:
    snapshot = analytics.fresh_realtime()
    if snapshot is None:
        snapshot = await anyio.to_thread.run_sync(analytics.realtime)
    return envelope.live({"as_of": snapshot.as_of.isoformat(), **pick(snapshot)}, data_points=1)


@get("/realtime/dau", name="realtime_dau", responses=ERRORS)
async def realtime_dau(analytics: Reads) -> Response[Envelope]:
    """People active so far today (UTC)."""
    return await _live(analytics, lambda s: {"metric": "dau", "value": s.daily_active_users})


@get("/realtime/active-sessions", name="realtime_active_sessions", responses=ERRORS)
async def realtime_active_sessions(analytics: Reads) -> Response[Envelope]:
    """People active in the last 5 minutes, Activation Days in progress, micro-acts today."""
    return await _live(
        analytics,
        lambda s: {
            "metric": "active_sessions",
            "value": s.online_now,
            "breakdown": {"activations_in_progress": s.activations_in_progress, "microacts_today": s.microacts_today},
        },
    )


@get("/realtime/live-waves", name="realtime_live_waves", responses=ERRORS)
async def realtime_live_waves(analytics: Reads) -> Response[Envelope]:
    """Participants of each live Wave (joined and not left)."""
    return await _live(
        analytics,
        lambda s: {
            "metric": "live_waves",
            "value": sum(s.wave_participants.values()),
            "breakdown": dict(s.wave_participants),
        },
    )


@websocket("/realtime/metrics", name="realtime_metrics")
async def realtime_metrics(
    socket: WebSocket[Any, Any, Any], door: SkipValidation[SocketGate], feed: SkipValidation[LiveFeed]
) -> None:
    """A snapshot of every real-time counter on connect, then each change within a second, until the token's
    ``exp`` (or, for a dashboard page's socket, until its session signs out: close code 4401). Token:
    ``Authorization: Bearer`` or the subprotocols ``bearer, <token>``, never the URL."""
    admitted = await door.admit(socket, "realtime_metrics", "/api/realtime/metrics")
    if admitted is None:
        return
    await socket.accept(subprotocols=admitted.subprotocol)
    seen = await feed.subscribe()

    async def push(seen: bytes) -> None:
        await socket.send_bytes(seen)
        while True:
            seen = await feed.next_change(seen)
            await socket.send_bytes(seen)

    async def read_until_gone() -> None:
        # The client says nothing; reading is how its leaving is noticed.
        with contextlib.suppress(WebSocketDisconnect, OSError):
            while not pushing.done():
                await socket.receive_data("text")

    pushing = asyncio.create_task(push(seen))
    reading = asyncio.create_task(read_until_gone())
    signed_out = asyncio.create_task(door.ended(admitted))
    try:
        # The session ends with its token, or when it signs out: a socket must not outlive the right that opened it.
        async with asyncio.timeout(max(admitted.seconds_left(), 0.0)):
            await asyncio.wait((reading, signed_out), return_when=asyncio.FIRST_COMPLETED)
        if signed_out.done() and not reading.done():
            pushing.cancel()
            await socket.close(code=4401, reason="signed out: sign in again")
    except TimeoutError:
        pushing.cancel()
        await socket.close(code=4401, reason="the token expired: connect again with a fresh one")
    except (WebSocketDisconnect, OSError):
        pass
    finally:
        for task in (pushing, reading, signed_out):
            task.cancel()
        feed.unsubscribe()


ROUTES: Final = (realtime_dau, realtime_active_sessions, realtime_live_waves, realtime_metrics)
