"""Real-time activity (seed 3.1): who is active today, online now, in a Wave, mid-Activation.

Built from the event history like every read model, a page at a time. Rows
are per subject (the random internal id, never the app's user id); when a
person is erased their rows are deleted (the readable ``User.Erased`` record
says whose), and their events read as redacted, so a rebuild never brings
them back.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any, Final, Unpack
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec

from application.read_models.ports import DailyCountsView, LiveActivityView, LiveChanges, LiveSnapshot
from application.read_models.projections import PagedProjection, Upkeep
from application.read_models.shapes import READ_SHAPES
from application.store import AnalyticsStore
from domain.periods import UTC_ZONE, day_of, hour_number
from domain.session import Session
from domain.user import User

__all__ = [
    "LiveActivityProjection",
]

ONLINE_WITHIN: Final = timedelta(minutes=5)
ACTIVATION_WINDOW: Final = timedelta(hours=24)
# No one stays in a Wave longer than this (the catalog's wave_left.duration_seconds is at most 86,400): a join
# older than that with no leave is someone whose app never said goodbye, not a participant.
WAVE_WINDOW: Final = timedelta(hours=24)


class LiveActivityProjection(PagedProjection[LiveActivityView]):
    name = "live_activity"
    reads = (Session.EventsTracked, User.Erased)
    shapes = READ_SHAPES

    def __init__(
        self,
        store: AnalyticsStore,
        view: LiveActivityView,
        *,
        daily_counts: DailyCountsView,
        page_size: int = 1000,
        zone: ZoneInfo = UTC_ZONE,
        **upkeep: Unpack[Upkeep],
    ) -> None:
        super().__init__(store, view, page_size=page_size, zone=zone, **upkeep)
        self._daily_counts = daily_counts

    def snapshot(self, now: datetime) -> LiveSnapshot:
        """The counters as of ``now`` (micro-acts today come from the daily counts)."""
        today = day_of(now, self.zone)
        live = self._view.snapshot(
            now, today=today, online_within=ONLINE_WITHIN, activation_window=ACTIVATION_WINDOW, wave_window=WAVE_WINDOW
        )
        microacts = self._daily_counts.counts().get((today, "microact_created"), 0)
        return msgspec.structs.replace(live, microacts_today=microacts)

    def _apply_page(self, events: list[Any], position: int) -> None:
        changes = LiveChanges()
        for event in events:
            if isinstance(event, Session.EventsTracked):
                _collect(changes, event.subject_id, (t for t in event.events), self.zone)
            elif isinstance(event, User.Erased):
                changes.erased.add(event.subject_id)
        self._view.apply(changes, position)


def _collect(changes: LiveChanges, subject: UUID, tracked_events: Iterable[Any], zone: ZoneInfo) -> None:
    # Days and the latest time are gathered per stored event (one person's), then merged once:
    # the subject, a UUID, is slow to hash.
    days: set[int] = set()  # day numbers (date ordinals): no date built nor hashed per event
    latest: datetime | None = None
    in_utc = zone is UTC_ZONE
    for tracked in tracked_events:
        at: datetime = tracked.occurred_at
        event = tracked.event
        days.add(hour_number(at) // 24 if in_utc else day_of(at, zone).toordinal())
        if latest is None or at > latest:
            latest = at
        name = event.name
        if name in ("wave_joined", "wave_left"):
            times = changes.waves_joined if name == "wave_joined" else changes.waves_left
            wave = (event.properties.wave_id, subject)
            times[wave] = max(at, times.get(wave, at))
        elif name in ("activation_started", "activation_completed"):
            spans = changes.activations_started if name == "activation_started" else changes.activations_ended
            activation = (subject, event.properties.activation_id)
            spans[activation] = max(at, spans.get(activation, at))
    changes.active_days.update((date.fromordinal(day), subject) for day in days)
    if latest is not None:
        changes.last_seen[subject] = max(latest, changes.last_seen.get(subject, latest))
