"""Projections: read models built from the event history, resumable and rebuildable.

A projection pulls the notification log in pages from its view's position,
decodes each event through the application's mapper and hands the page's
effect to the view together with the page's last position. Events whose key
is gone arrive as :class:`RedactedEvent`: they are skipped, and the position
still advances past them.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import date, datetime, timedelta
from typing import Any, Final, Generic, TypedDict, TypeVar
from zoneinfo import ZoneInfo

import msgspec
from eventsourcing.persistence import Notification

from application.ports import Clock
from application.read_models.page_writers import PageWriters
from application.read_models.ports import DailyCountsView, Shadow, TrackedView
from application.read_models.shapes import READ_SHAPES
from application.retention.archive import METRICS_DAYS
from application.store import AnalyticsStore, log_pages, read_topics
from domain.catalog import MicroactCreated
from domain.periods import UTC_ZONE, day_of, hour_number, hour_start
from domain.platform import PlatformDay
from domain.redacted import RedactedEvent
from domain.session import Session

__all__ = ["CatchUp", "DailyCountsProjection", "PagedProjection", "Upkeep", "catch_up_together"]


class CatchUp(msgspec.Struct, frozen=True, kw_only=True):
    """What one catch-up did: events read (only the classes read: read_topics), redacted skipped, position."""

    processed: int
    redacted_skipped: int
    position: int
    # The app's events inside them (a stored event of a session holds one or many): the rate people know.
    catalog_events: int = 0


Progress = Callable[[int, int], None]  # (position reached, position to reach)

# A pass of several projections over the log (catch_up_together) reads pages of up to ONE_PASS_PAGE_MAX stored
# events, as many as fit in ONE_PASS_PAGE_BYTES of stored state. Each page is one write per table of each view:
# with one event per stored event, pages of 20,000 rebuilt 22-42% faster than pages of 1,000 (fewer statements,
# rows merged within the page); batches of ~20 events (9 KB stored) gained nothing from larger pages.
ONE_PASS_PAGE_MAX: Final = 20_000
ONE_PASS_PAGE_BYTES: Final = 8 * 2**20
# A rebuild's replay reads larger pages, as each merge touches most of the growing read models' indexes: a million
# mixed events rebuilt at 16,661 catalog events/s in pages of 100,000, 11,229 in pages of 20,000 (~150 MB more).
REBUILD_PAGE_MAX: Final = 100_000
REBUILD_PAGE_BYTES: Final = 40 * 2**20


class Upkeep(TypedDict, total=False):
    """What the running service gives a projection (entrypoints.bootstrap); none of it in unit tests.

    ``shadows`` builds an empty view beside the live one; without it a rebuild
    clears the live view in place. ``lease`` is true while this process may
    write the view (adapters.read_models.leases); without it, always.
    ``clock`` is the time now, for the metrics' retention: events older than
    METRICS_DAYS are not counted, so a rebuild from the archive does not bring
    back what ``archive run`` purged; without it, no limit.
    """

    shadows: Callable[[], Shadow] | None
    lease: Callable[[], bool] | None
    clock: Clock | None


ViewT = TypeVar("ViewT", bound=TrackedView)


class PagedProjection(Generic[ViewT]):
    """Pulls the notification log in pages from its view's position; subclasses apply a page.

    Generic in its view, so that each projection uses its own view's methods
    typed, and its days are those of ``zone`` (the reporting time zone).

    Each page's effect and the page's last position are written by the view in
    one transaction, so every event counts once however often this stops.
    """

    name = "projection"
    # The event classes whose events _apply_page uses: others are not decrypted nor decoded (object: all).
    reads: tuple[type, ...] = (object,)
    # Event class -> the lighter Struct its state is decoded into (application.read_models.shapes); others in full.
    shapes: Mapping[type, type[msgspec.Struct]] = {}

    def __init__(
        self,
        store: AnalyticsStore,
        view: ViewT,
        *,
        page_size: int = 1000,
        zone: ZoneInfo = UTC_ZONE,
        shadows: Callable[[], Shadow] | None = None,
        lease: Callable[[], bool] | None = None,
        clock: Clock | None = None,
    ) -> None:
        """``shadows``, ``lease`` and ``clock``: see :class:`Upkeep`."""
        self._store = store
        self._view = view
        self._page_size = page_size
        self.zone = zone
        self.shadows = shadows
        self.lease = lease
        self.clock = clock

    def position(self) -> int:
        return self._view.position()

    def target(self) -> int:
        return self._store.recorder.max_notification_id() or 0

    def lag(self, now: datetime) -> tuple[int, float]:
        """How far behind the log: events not yet applied, and the age in seconds of the oldest of them."""
        position, target = self._view.position(), self.target()
        if target <= position:
            return 0, 0.0
        first = self._store.recorder.select_notifications(position + 1, 1)
        at = getattr(self._store.mapper.to_domain_event(first[0]), "timestamp", None) if first else None
        seconds = max((now - at).total_seconds(), 0.0) if isinstance(at, datetime) else 0.0
        return target - position, seconds

    def catch_up(self, on_progress: Progress | None = None) -> CatchUp:
        """Apply every event after the view's position; nothing when another process holds the lease."""
        if self.lease is not None and not self.lease():
            return CatchUp(processed=0, redacted_skipped=0, position=self._view.position())
        position, target = self._view.position(), self.target()
        processed = skipped = catalog = 0
        select = self._store.recorder.select_notifications
        topics = read_topics(self.reads)
        for page in log_pages(select, position + 1, topics, stop=target, size=self._page_size):
            decoded, redacted, tracked = _decoded(self._store, page, self.reads, self.shapes)
            skipped, catalog = skipped + redacted, catalog + tracked
            position = page[-1].id
            self._apply_page([event for _, event in decoded], position)
            processed += len(page)
            if on_progress is not None:
                on_progress(position, target)
        if position < target:
            _pass_the_rest([self], target, on_progress)
            position = target
        return CatchUp(processed=processed, redacted_skipped=skipped, position=position, catalog_events=catalog)

    def rebuild(self, on_progress: Progress | None = None) -> CatchUp:
        """Replay the whole history into a new view beside the live one, then swap it in.

        Readers see the old read model until the swap and the rebuilt one after
        it. Without a shadow factory (unit tests), the view is cleared in place.
        """
        if self.shadows is None:
            self._view.reset()
            return self.catch_up(on_progress)
        shadow = self.shadows()
        try:
            result = self.beside(shadow.view).catch_up(on_progress)
            shadow.promote()
        finally:
            shadow.discard()
        self.catch_up()  # what arrived during the rebuild
        return result

    def beside(self, view: ViewT) -> PagedProjection[ViewT]:
        """This projection writing to another view (a shadow being rebuilt)."""
        clone = copy.copy(self)
        clone._rebind(view)
        clone.shadows = None
        clone.lease = None  # the shadow is this process's own; the clock (retention) stays
        return clone

    def _rebind(self, view: ViewT) -> None:
        self._view = view

    def oldest_day(self) -> date:
        """The first day still counted: METRICS_DAYS before today (date.min without a clock)."""
        if self.clock is None:
            return date.min
        return (self.clock.now() - timedelta(days=METRICS_DAYS)).date()

    def _apply_page(self, events: list[Any], position: int) -> None:
        raise NotImplementedError


class DailyCountsProjection(PagedProjection[DailyCountsView]):
    """Collected events per UTC day and event name, and per UTC hour (with micro-acts by category)."""

    name = "daily_counts"
    reads = (Session.EventsTracked, PlatformDay.Closed, PlatformDay.Reclosed)
    shapes = READ_SHAPES

    @property
    def view(self) -> DailyCountsView:
        return self._view

    def _apply_page(self, events: list[Any], position: int) -> None:
        first: Counter[tuple[date, str]] = Counter()
        counts = first
        hourly: Counter[tuple[datetime, str]] = Counter()
        later: list[tuple[dict[tuple[date, str], int], Counter[tuple[date, str]]]] = []
        oldest = self.oldest_day()
        oldest_hour = oldest.toordinal() * 24
        # Counted by (UTC hour number, name) first: ints hash cheaply, and the days follow from the hours in UTC.
        tally = _HourTally(self.zone)
        for event in events:
            if isinstance(event, (PlatformDay.Closed, PlatformDay.Reclosed)):
                # A closed day's counts, as recorded: a rebuild that can no longer read an erased
                # person's events still counts them (docs/metrics.md, rule 3).
                day = getattr(event, "day", None)
                if day is not None and day >= oldest:
                    recorded = {
                        (day, k.removeprefix("event:")): n for k, n in event.totals.items() if k[:6] == "event:"
                    }
                    tally.flush(counts, hourly)  # the counts before the record go before its floor
                    counts = Counter()
                    later.append((recorded, counts))
                continue
            if isinstance(event, Session.EventsTracked):
                tally.count(event.events, oldest_hour)
        tally.flush(counts, hourly)
        self._view.add(first, position, hourly, later)


class _HourTally:
    """Tracked events counted by (UTC hour number, name), then added to day and hour counters in one go.

    A page of a device-shaped history holds ~20,000 catalog events; keyed by
    ints rather than aware datetimes, counting them costs about a fifth.
    """

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self.hours: dict[tuple[int, str], int] = {}
        self.categories: dict[tuple[int, str], int] = {}  # micro-acts by category: hourly only
        # Days in another reporting zone do not follow from UTC hours (offsets of :30, :45): counted apart.
        self.local_days: Counter[tuple[date, str]] | None = None if zone is UTC_ZONE else Counter()

    def count(self, tracked_events: Any, oldest_hour: int) -> None:
        """A stored event's tracked events (TrackedEvent, or the TrackedRead a rebuild decodes), from oldest_hour."""
        hours, categories, local_days = self.hours, self.categories, self.local_days
        for tracked in tracked_events:
            at, name = tracked.occurred_at, tracked.event.name
            hour = hour_number(at)
            if hour < oldest_hour:
                continue  # past the metrics' retention (archive run purged its rows)
            key = (hour, name)
            hours[key] = hours.get(key, 0) + 1
            if local_days is not None:
                local_days[(day_of(at, self.zone), name)] += 1
            if name == MicroactCreated.name:  # the hourly job reports them by category
                key = (hour, f"{name}/category:{tracked.event.properties.category}")
                categories[key] = categories.get(key, 0) + 1

    def flush(self, counts: Counter[tuple[date, str]], hourly: Counter[tuple[datetime, str]]) -> None:
        """Add what was counted since the last flush to ``counts`` (days) and ``hourly``; start again."""
        for (hour, name), n in self.hours.items():
            start = hour_start(hour)
            hourly[(start, name)] += n
            if self.local_days is None:
                counts[(start.date(), name)] += n
        for (hour, name), n in self.categories.items():
            hourly[(hour_start(hour), name)] += n
        if self.local_days is not None:
            counts.update(self.local_days)
            self.local_days.clear()
        self.hours.clear()
        self.categories.clear()


def catch_up_together(
    store: AnalyticsStore,
    projections: list[PagedProjection[Any]],
    *,
    page_size: int | None = None,
    rebuild: bool = False,
    on_progress: Progress | None = None,
    swap_lock: AbstractContextManager[Any] | None = None,
) -> CatchUp:
    """Bring several projections up to date reading and decrypting the log once, not once each.

    Each page goes to every projection still behind it, and each projection
    writes it with its own position, so stopping half way loses nothing.
    ``rebuild``: every projection is rebuilt beside its live view (or in place
    without a shadow factory) and swapped in at the end. ``swap_lock`` is held
    by whatever else writes these live views in this process (the scheduler's
    catch-ups): the replay runs without it, the swap and the catch-ups around
    it with it, so no catch-up of the live view interleaves with the swap.
    """
    if not rebuild:
        return _one_pass(store, projections, page_size or ONE_PASS_PAGE_MAX, on_progress)
    guard = swap_lock if swap_lock is not None else nullcontext()
    shadows = [p.shadows() if p.shadows is not None else None for p in projections]
    try:
        if any(shadow is None for shadow in shadows):  # cleared in place: nothing else may write meanwhile
            with guard:
                return _in_place(store, projections, shadows, page_size, on_progress)
        targets = [p.beside(shadow.view) for p, shadow in zip(projections, shadows, strict=True) if shadow]
        result = _one_pass(store, targets, page_size or REBUILD_PAGE_MAX, on_progress, REBUILD_PAGE_BYTES)
        with guard:
            if lost := [p.name for p in projections if p.lease is not None and not p.lease()]:
                raise RuntimeError(f"{', '.join(lost)}: lease lost during the rebuild; the live view is unchanged")
            _one_pass(store, targets, page_size or ONE_PASS_PAGE_MAX)  # into the shadows, what arrived meanwhile
            for shadow in shadows:
                if shadow is not None:
                    shadow.promote()
            _one_pass(store, projections, page_size or ONE_PASS_PAGE_MAX)  # the live views, from the swap
    finally:
        for shadow in shadows:
            if shadow is not None:
                shadow.discard()
    return result


def _in_place(
    store: AnalyticsStore,
    projections: list[PagedProjection[Any]],
    shadows: list[Shadow | None],
    page_size: int | None,
    on_progress: Progress | None,
) -> CatchUp:
    """A rebuild where some projection has no shadow (a view given by a test): cleared, then replayed."""
    targets = []
    for projection, shadow in zip(projections, shadows, strict=True):
        if shadow is None:
            projection._view.reset()
            targets.append(projection)
        else:
            targets.append(projection.beside(shadow.view))
    result = _one_pass(store, targets, page_size or REBUILD_PAGE_MAX, on_progress, REBUILD_PAGE_BYTES)
    for shadow in shadows:
        if shadow is not None:
            shadow.promote()
    _one_pass(store, projections, page_size or ONE_PASS_PAGE_MAX)  # what arrived during the rebuild
    return result


def _one_pass(
    store: AnalyticsStore,
    projections: list[PagedProjection[Any]],
    page_size: int,
    on_progress: Progress | None = None,
    page_bytes: int = ONE_PASS_PAGE_BYTES,
) -> CatchUp:
    target = store.recorder.max_notification_id() or 0
    if not projections:  # every lease held elsewhere: nothing to read
        return CatchUp(processed=0, redacted_skipped=0, position=target, catalog_events=0)
    positions = [p.position() for p in projections]
    position = min(positions)
    processed = skipped = catalog = 0
    reads = tuple(dict.fromkeys(c for p in projections for c in p.reads))
    # A lighter shape only where every projection reads that class through the same one.
    shapes = {c: s for c, s in projections[0].shapes.items() if all(p.shapes.get(c) is s for p in projections)}
    select = store.recorder.select_notifications
    topics = read_topics(reads)
    with PageWriters(projections, positions) as writers:
        for page in log_pages(select, position + 1, topics, stop=target, size=page_size, budget=page_bytes):
            decoded, redacted, tracked = _decoded(store, page, reads, shapes)
            skipped, catalog = skipped + redacted, catalog + tracked
            position = page[-1].id
            writers.apply(decoded, position)
            processed += len(page)
            if on_progress is not None:
                on_progress(position, target)
    if position < target:
        _pass_the_rest(projections, target, on_progress)
    return CatchUp(processed=processed, redacted_skipped=skipped, position=target, catalog_events=catalog)


def _decoded(
    store: AnalyticsStore, page: Sequence[Notification], reads: tuple[type, ...], shapes: Mapping[type, type]
) -> tuple[list[tuple[int, Any]], int, int]:
    """A page decoded for ``reads``: (position, event) of each event to apply, the redacted, the catalog events."""
    decoded: list[tuple[int, Any]] = []
    redacted = catalog = 0
    for notification, event in zip(page, store.decode_page(page, reads, shapes), strict=True):
        if event is None:
            continue  # read by none of them
        if isinstance(event, RedactedEvent):
            redacted += 1
        else:
            decoded.append((notification.id, event))
            catalog += len(event.events) if isinstance(event, Session.EventsTracked) else 0
    return decoded, redacted, catalog


def _pass_the_rest(projections: list[PagedProjection[Any]], target: int, on_progress: Progress | None) -> None:
    """Move the projections still behind ``target`` to it: the rest of the log holds no event they read."""
    for projection in projections:
        if projection.position() < target:
            projection._apply_page([], target)
    if on_progress is not None:
        on_progress(target, target)
