"""When an event happened: device clock correction and the catalog's time bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

import msgspec

from domain.errors import EventRejected, FieldError

__all__ = ["LATE_AFTER", "MAX_FUTURE", "MAX_PAST", "SKEW_FLAG_AFTER", "Timing", "place_in_time"]

MAX_FUTURE: Final = timedelta(minutes=5)
MAX_PAST: Final = timedelta(days=30)
LATE_AFTER: Final = timedelta(hours=24)


SKEW_FLAG_AFTER: Final = timedelta(minutes=1)


class Timing(msgspec.Struct, frozen=True, kw_only=True):
    occurred_at: datetime
    late: bool
    clock_skew_seconds: float
    future: bool = False

    @property
    def flags(self) -> tuple[str, ...]:
        """Anomalies worth a second look; see docs/pipeline.md for the definitions."""
        if not (self.future or self.late or self.clock_skew_seconds):
            return ()  # the usual case, asked for every event
        found = []
        if self.future:
            found.append("future")
        if self.late:
            found.append("late")
        if abs(self.clock_skew_seconds) > SKEW_FLAG_AFTER.total_seconds():
            found.append("clock_skew")
        return tuple(found)


def place_in_time(timestamp: datetime, *, received_at: datetime, sent_at: datetime | None) -> Timing:
    """Correct ``timestamp`` by the batch's skew (as Segment does with ``sentAt``), then bound it.

    The device's clock may be off by any amount; the difference between our
    clock at receipt and its clock at sending measures that error, and the
    same error applies to every event of the batch.
    """
    skew = received_at - sent_at if sent_at is not None else timedelta(0)
    try:
        # In UTC, so that "the day it happened" means one thing everywhere we count.
        occurred_at = (timestamp + skew).astimezone(UTC)
    except OverflowError:
        raise EventRejected(
            [FieldError("sent_at", "is too far from the server's clock to correct the event's timestamp by")]
        ) from None
    if occurred_at - received_at > MAX_FUTURE:
        raise EventRejected([FieldError("timestamp", "is more than 5 minutes in the future (after clock correction)")])
    age = received_at - occurred_at
    if age > MAX_PAST:
        raise EventRejected([FieldError("timestamp", "is older than 30 days; such events are not accepted")])
    return Timing(
        occurred_at=occurred_at,
        late=age > LATE_AFTER,
        clock_skew_seconds=skew.total_seconds(),
        future=occurred_at > received_at,
    )
