"""The system clock, behind the ``Clock`` port so tests can stop time."""

from __future__ import annotations

from datetime import UTC, datetime

from application.ports import Clock

__all__ = ["SystemClock"]


class SystemClock(Clock):
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)
