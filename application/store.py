"""The event-sourced application that holds users, consent and sessions.

Thin, in the library's own style: the use cases get aggregates, change them
and save them. Its mapper is supplied from outside (the encrypting one in
production), so this module stays free of crypto.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cache, partial
from typing import Any, Final, Protocol, TypeVar, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Mapper, Notification
from eventsourcing.utils import get_topic, resolve_topic

from application.ports import IngestLedger
from application.stream_cache import StreamCache

__all__ = ["PAGE_SIZE", "AnalyticsStore", "log_pages", "read_topics"]

PAGE_SIZE: Final = 1000
A = TypeVar("A", bound=Aggregate)


class SelectPage(Protocol):
    """A recorder's page read: ``select_notifications`` of the library, or the archive's ``select_hot``."""

    def __call__(
        self, start: int, limit: int, *, stop: int | None = ..., topics: Sequence[str] = ...
    ) -> Sequence[Notification]: ...


def log_pages(
    select: SelectPage,
    start: int,
    topics: Sequence[str] = (),
    *,
    stop: int | None = None,
    size: int = PAGE_SIZE,
    budget: int | None = None,
) -> Iterator[Sequence[Notification]]:
    """The notification log in pages from position ``start`` (inclusive), optionally only ``topics``.

    Without ``stop`` a short page is the end of the log; with it, pages are
    read until one comes back empty or ``stop`` is passed. With ``budget`` (bytes
    of stored state), the first page holds at most PAGE_SIZE events and each
    next one as many as the last one's events suggest fit in the budget, at
    most ``size``: a history of small events (one per person, as server-side
    sources send) goes in few large pages, one of batches of a hundred events
    in pages about as large as without a budget.
    """
    ask = size if budget is None else min(size, PAGE_SIZE)
    while stop is None or start <= stop:
        page = select(start, ask, stop=stop, topics=topics)
        if not page:
            return
        yield page
        if stop is None and len(page) < ask:
            return
        start = page[-1].id + 1
        if budget is not None:
            held = sum(len(n.state) for n in page) or 1
            ask = max(1, min(size, len(page) * budget // held))


@cache
def _reads(topic: str, reads: tuple[type, ...]) -> bool:
    """Whether a stored topic names an event of one of these classes (resolved once: topics may be aliases)."""
    return issubclass(resolve_topic(topic), reads)


def read_topics(reads: tuple[type, ...]) -> tuple[str, ...]:
    """The stored topics of these event classes and their subclasses, for the log's SELECT; () for all.

    Filtering in the SELECT, not after it: a history written by server-side sources holds about as many
    ``Session.Started`` and consent records, which no projection reads, as tracked events, and each row
    read costs its transfer and a Notification (bench/rebuild.py --mixed: 179,839 rows read for 99,549).
    No topic of ours is an alias (``register_topic``), so a class's topic is the one stored.
    """
    if object in reads:
        return ()
    classes: list[type] = []
    pending = list(reads)
    while pending:
        cls = pending.pop()
        if cls not in classes:
            classes.append(cls)
            pending.extend(cls.__subclasses__())
    return tuple(sorted(get_topic(cls) for cls in classes))


class AnalyticsStore(Application[UUID]):
    name = "AddValue"

    def __init__(self, env: Mapping[str, str], mapper_factory: Callable[[], Mapper[UUID]]) -> None:
        # construct_mapper() runs inside Application.__init__, so set this first.
        self._mapper_factory = mapper_factory
        super().__init__(env=dict(env))
        # Every write of this process holds this lock: one writer per process, so
        # reads-then-save of a batch never interleave with another write.
        self.write_lock = threading.RLock()
        self.streams = StreamCache(lambda aggregate_id: self.find(aggregate_id, Aggregate))

    def construct_mapper(self) -> Mapper[UUID]:
        return self._mapper_factory()

    def find(self, aggregate_id: UUID, kind: type[A]) -> A | None:
        """The aggregate of this kind with this id; None when there is none (or the id holds another kind)."""
        try:
            found: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, kind) else None

    def iter_log(self, start: int = 1, topics: Sequence[str] = ()) -> Iterator[Notification]:
        """Every notification from position ``start`` on (only ``topics`` if given), read a page at a time."""
        for page in log_pages(self.recorder.select_notifications, start, topics):
            yield from page

    def decode_page(
        self,
        page: Sequence[Notification],
        reads: tuple[type, ...] = (object,),
        shapes: Mapping[type, type] | None = None,
    ) -> list[Any]:
        """A page of the log as domain events, with the mapper's page decoder when it has one.

        The encrypting mapper (adapters.encryption.mapper) reads the keys of all
        the page's people in one query; any other mapper decodes one at a time.
        Only events of the classes in ``reads`` are decrypted and decoded, as
        decided from the stored topic: the others come back as ``None`` (or as
        a redacted event when their key is gone, as they would decoded).
        ``shapes``: for some event classes, a lighter Struct to decode their
        state into (application.read_models.shapes), with the mapper's page
        decoder; the others, and any other mapper, in full.
        """
        wanted = None if reads == (object,) else partial(_reads, reads=reads)
        decode_all = getattr(self.mapper, "to_domain_events", None)
        if decode_all is not None:
            return list(decode_all(page, wanted, shapes))
        return [self.mapper.to_domain_event(n) if wanted is None or wanted(n.topic) else None for n in page]

    @property
    def ledger(self) -> IngestLedger:
        """Our recorders add the ingest ledger to the library's; see adapters.eventstore.recorders."""
        return cast(IngestLedger, self.recorder)

    def save_pending(self, aggregates: list[Aggregate], **kwargs: object) -> None:
        """``save`` for a known list of our aggregates, in one transaction.

        The library's ``save`` checks each object against runtime Protocols,
        which costs more than the rest of a large group's save; these objects
        are known to be aggregates of this application.
        """
        events = [event for aggregate in aggregates for event in aggregate.collect_events()]
        self.events.put(events, **kwargs)

    def forget_cached(self) -> None:
        """Drop decrypted aggregates held in memory (after an erasure)."""
        with self.write_lock:
            self.streams.clear()
