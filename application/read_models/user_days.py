"""Per person and UTC day: what they did, counted, the input of streaks and the indices.

One row per (subject, day, metric) with a count, plus each mood logged. Built
from the event history a page at a time like every read model; rows are per
subject and are deleted when the readable ``User.Erased`` record arrives.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Final
from uuid import UUID
from zoneinfo import ZoneInfo

from application.read_models.ports import DayMetrics, UserDaysChanges, UserDaysView
from application.read_models.projections import PagedProjection
from application.read_models.shapes import READ_SHAPES
from domain.periods import UTC_ZONE, day_of, hour_number
from domain.session import Session
from domain.user import User

__all__ = [
    "METRIC_OF",
    "UserDaysProjection",
]

# Which catalog event counts towards which per-day metric ("events" counts all of them).
METRIC_OF: Final[dict[str, str]] = {
    "activation_completed": "activations_completed",
    "activation_round_completed": "rounds_completed",
    "microact_created": "microacts_created",
    "microact_shared": "microacts_shared",
    "post_created": "posts_created",
    "post_liked": "likes_given",
    "post_commented": "comments_given",
    "post_shared": "shares_given",
    "user_followed": "follows_given",
    "wave_joined": "waves_joined",
    "wave_interaction": "wave_interactions",
    "wave_microact_shared": "wave_microacts_shared",
    "wave_feedback_submitted": "feedback_given",
}


class UserDaysProjection(PagedProjection[UserDaysView]):
    name = "user_days"
    reads = (Session.EventsTracked, User.Erased)
    shapes = READ_SHAPES

    def days_of(self, subject_id: UUID, first: date, last: date) -> list[DayMetrics]:
        return self._view.days_of(subject_id, first, last)

    def active_people(self, first: date, last: date) -> int:
        return self._view.active_people(first, last)

    def day_totals(self, day: date) -> dict[str, int]:
        return self._view.day_totals(day)

    @property
    def view(self) -> UserDaysView:
        return self._view

    def new_people(self, day: date) -> int:
        return self._view.new_people(day)

    def _apply_page(self, events: list[Any], position: int) -> None:
        changes = UserDaysChanges()
        oldest = self.oldest_day()
        for event in events:
            if isinstance(event, Session.EventsTracked):
                _count(changes, event.subject_id, event.events, self.zone, oldest)
            elif isinstance(event, User.Erased):
                changes.erased.add(event.subject_id)
        self._view.apply(changes, position)


def _count(changes: UserDaysChanges, subject: UUID, tracked_events: Any, zone: ZoneInfo, oldest: date) -> None:
    """One stored event's tracked events (one person's): counted by (day number, metric) first, then merged,
    so the subject (a UUID, slow to hash) is hashed once per day and metric, not per event, and no event
    hashes a date."""
    local: dict[tuple[int, str], int] = {}
    oldest_hour, in_utc = oldest.toordinal() * 24, zone is UTC_ZONE
    for tracked in tracked_events:
        at = tracked.occurred_at
        hour = hour_number(at)
        if hour < oldest_hour:
            continue  # past the metrics' retention
        day = hour // 24 if in_utc else day_of(at, zone).toordinal()
        event = tracked.event
        name = event.name
        key = (day, "events")
        local[key] = local.get(key, 0) + 1
        metric = METRIC_OF.get(name)
        if metric is not None:
            key = (day, metric)
            local[key] = local.get(key, 0) + 1
        if name == "wave_left":
            key = (day, "wave_seconds")
            local[key] = local.get(key, 0) + event.properties.duration_seconds
        elif name == "wave_feedback_submitted":
            key = (day, "feedback_rating_sum")
            local[key] = local.get(key, 0) + event.properties.rating
        elif name == "activation_mood_logged":
            changes.moods.append((subject, date.fromordinal(day), event.properties.phase, event.properties.mood))
    counts = changes.counts
    for (day, metric), n in local.items():
        counts[(subject, date.fromordinal(day), metric)] += n
