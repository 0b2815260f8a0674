"""What the projections read of a session's events: the shape a rebuild decodes them into.

A stored ``Session.EventsTracked`` holds each catalog event in full (context,
privacy, geo, flags, …: ~470 bytes each in the bench's device-shaped
history). The projections read only when each happened, its name and a few
properties, so a replay decodes into these Structs, and msgspec skips the rest
without building it: ~16 µs instead of ~75 µs for a stored event of 34
catalog events (bench/rebuild.py's device shape). The events built from them
are ``Session.EventsTracked`` whose ``events`` hold ``TrackedRead`` items: what
``_apply_page`` of every projection reads (``occurred_at``, ``event.name``,
``event.properties.<name>``), nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import msgspec

from domain.session import Session

__all__ = ["READ_SHAPES", "CatalogEventRead", "TrackedRead"]


# gc=False: a page of a device-shaped history decodes into ~60,000 of these, which hold no other objects that
# could form a cycle; tracked by the garbage collector, their allocations set off collections that took 75% of
# the decoding time (bench/rebuild.py, 300,000 catalog events: decoding 1.03-1.20 s, untracked 0.22-0.29 s).
class PropertiesRead(msgspec.Struct, frozen=True, gc=False):
    """The properties some projection reads; ``Any``: each is as the event's own type decoded it."""

    wave_id: Any = None
    activation_id: Any = None
    category: Any = None
    duration_seconds: Any = None
    rating: Any = None
    phase: Any = None
    mood: Any = None


class CatalogEventRead(msgspec.Struct, frozen=True, gc=False, rename={"name": "event_name"}):
    name: str
    properties: PropertiesRead = PropertiesRead()


class TrackedRead(msgspec.Struct, frozen=True, gc=False):
    event: CatalogEventRead
    occurred_at: datetime


class _EventsTrackedRead(msgspec.Struct, frozen=True):
    timestamp: datetime
    subject_id: UUID
    events: tuple[TrackedRead, ...]
    timeout_seconds: float


# Event class -> the Struct its stored state is decoded into for the projections.
READ_SHAPES: Final[Mapping[type, type[msgspec.Struct]]] = {Session.EventsTracked: _EventsTrackedRead}
