"""Ports of the read models: each view, what a page of events changes in it, and what it answers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol
from uuid import UUID

import msgspec

__all__ = [
    "DailyCountsView",
    "DayMetrics",
    "Leases",
    "LiveActivityView",
    "LiveChanges",
    "LiveSnapshot",
    "RebuildEntry",
    "RebuildJournal",
    "Shadow",
    "TrackedView",
    "UserDaysChanges",
    "UserDaysView",
    "Wakeups",
]


class TrackedView(Protocol):
    """A read model that knows how far into the event log it has got."""

    def position(self) -> int: ...

    def reset(self) -> None: ...


class DailyCountsView(TrackedView, Protocol):
    """Tracked events per day (when they happened, UTC) and event name."""

    def add(
        self,
        counts: Mapping[tuple[date, str], int],
        position: int,
        hourly: Mapping[tuple[datetime, str], int],
        later: Sequence[tuple[Mapping[tuple[date, str], int], Mapping[tuple[date, str], int]]] = (),
    ) -> None:
        """Add a page's counts per day and per hour, and its position, in one transaction.

        ``later``: for each closing record in the page, in order, its recorded counts (a count
        below one is raised to it) and then the counts of the events after it.
        """

    def counts(self) -> dict[tuple[date, str], int]: ...

    def hourly(self, first: datetime, last: datetime) -> dict[tuple[datetime, str], int]:
        """Counts per hour (UTC, the hour's start) in [first, last], by event name or ``name/category:<id>``."""


class Shadow(Protocol):
    """An empty view beside a live one (adapters.read_models.views.ShadowView): rebuilt, then swapped in."""

    view: Any

    def promote(self) -> None:
        """Make the shadow's rows and position the live view's, in one transaction."""

    def discard(self) -> None: ...


class LiveChanges(msgspec.Struct, kw_only=True):
    """One page's effect on the live read model, applied with the page's position."""

    active_days: set[tuple[date, UUID]] = msgspec.field(default_factory=set)
    last_seen: dict[UUID, datetime] = msgspec.field(default_factory=dict)
    # Latest join and leave per (Wave, person), and latest start and completion per (person, Activation):
    # whether someone is in a Wave is decided by when these happened, not by the order they arrived.
    waves_joined: dict[tuple[str, UUID], datetime] = msgspec.field(default_factory=dict)
    waves_left: dict[tuple[str, UUID], datetime] = msgspec.field(default_factory=dict)
    activations_started: dict[tuple[UUID, str], datetime] = msgspec.field(default_factory=dict)
    activations_ended: dict[tuple[UUID, str], datetime] = msgspec.field(default_factory=dict)
    erased: set[UUID] = msgspec.field(default_factory=set)


class LiveSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    as_of: datetime
    daily_active_users: int
    online_now: int
    microacts_today: int
    wave_participants: dict[str, int]
    activations_in_progress: int


class LiveActivityView(TrackedView, Protocol):
    def apply(self, changes: LiveChanges, position: int) -> None: ...

    def snapshot(
        self,
        now: datetime,
        *,
        today: date,
        online_within: timedelta,
        activation_window: timedelta,
        wave_window: timedelta,
    ) -> LiveSnapshot: ...


class UserDaysChanges(msgspec.Struct, kw_only=True):
    counts: Counter[tuple[UUID, date, str]] = msgspec.field(default_factory=Counter)
    moods: list[tuple[UUID, date, str, int]] = msgspec.field(default_factory=list)
    erased: set[UUID] = msgspec.field(default_factory=set)


class DayMetrics(msgspec.Struct, frozen=True, kw_only=True):
    """One person's day: each metric's count, and the moods logged at the start and end of Activation Days."""

    day: date
    counts: dict[str, int]
    moods_start: tuple[int, ...]
    moods_end: tuple[int, ...]


class UserDaysView(TrackedView, Protocol):
    def apply(self, changes: UserDaysChanges, position: int) -> None: ...

    def days_of(self, subject_id: UUID, first: date, last: date) -> list[DayMetrics]: ...

    def active_people(self, first: date, last: date) -> int:
        """Distinct people with at least one collected event on a day in [first, last]."""

    def people_active(self, first: date, last: date) -> list[UUID]:
        """The subjects with a collected event on a day in [first, last]."""

    def put_indices(self, day: date, results: dict[UUID, bytes]) -> None:
        """Store each subject's encoded index results for ``day`` (replacing earlier ones)."""

    def indices_of(self, subject_id: UUID, day: date) -> bytes | None: ...

    def day_totals(self, day: date) -> dict[str, int]:
        """Each metric summed over everyone, for one day."""

    def new_people(self, day: date) -> int:
        """People whose first day with a collected event is ``day``."""

    def people_with(self, metric: str, first: date, last: date) -> int:
        """Distinct people with a count of ``metric`` on a day in [first, last]."""

    def first_days(self, since: date) -> dict[UUID, date]:
        """Each person whose first day with a collected event is ``since`` or later, with that day."""

    def active_days(self, first: date, last: date) -> dict[UUID, set[date]]:
        """Each person active in [first, last], with their active days."""

    def indices_on(self, day: date) -> list[bytes]:
        """Every stored index result of ``day`` (encoded as put)."""


class Leases(Protocol):
    """Which process runs what: a projection's view, or the jobs, is written by one process at a time."""

    def hold(self, name: str) -> bool:
        """True while this process may run ``name`` (a projection, or "jobs"); no other process may then."""

    def release(self, name: str) -> None:
        """Give ``name`` back (if held), so that another process may take it."""


RebuildStatus = Literal["pending", "running", "swapped", "failed"]


class RebuildEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One projection of a requested rebuild: where it stands, and how far its replay has got."""

    job_id: str
    name: str
    status: RebuildStatus
    requested_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    position: int = 0
    target: int = 0
    error: str = ""


class RebuildJournal(Protocol):
    """Requested rebuilds, shared by every process of the service: asked by any, carried out by the lease holder."""

    def request(self, job_id: str, names: Sequence[str], at: datetime) -> None:
        """One pending entry per projection of a new job."""

    def claim(self, names: Sequence[str], owner: str, at: datetime) -> list[RebuildEntry]:
        """The oldest job's pending entries among ``names``, now running for ``owner``.

        Entries running for another owner count as pending: the caller holds these projections' leases,
        so the process that started them has stopped.
        """

    def progress(self, job_id: str, names: Sequence[str], position: int, target: int) -> None: ...

    def finish(self, job_id: str, names: Sequence[str], status: RebuildStatus, at: datetime, error: str = "") -> None:
        """Mark the entries swapped or failed."""

    def job(self, job_id: str) -> list[RebuildEntry]:
        """The job's entries (none for an unknown job)."""

    def unfinished(self) -> list[RebuildEntry]:
        """Every entry pending or running, oldest first."""


class Wakeups(Protocol):
    """Word from the database that events were committed, so projections need not poll."""

    def wait(self, timeout: float) -> bool:
        """True as soon as events are committed; False when ``timeout`` seconds pass without."""
