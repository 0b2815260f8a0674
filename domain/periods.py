"""The periods batch jobs compute: an hour, a day, an ISO week or a calendar month, all in UTC.

Each period has one canonical label, used in job runs, reports and the CLI:
``2026-11-24T13`` (the hour 13:00 to 14:00), ``2026-11-24``, ``2026-W48`` (the
ISO week, Monday to Sunday), ``2026-11``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo

__all__ = [
    "UTC_ZONE",
    "Cadence",
    "PeriodError",
    "PeriodNotOver",
    "check_over",
    "day_of",
    "days_of",
    "following_period",
    "hour_number",
    "hour_of",
    "hour_start",
    "parse_period",
    "period_end",
    "previous_period",
]

UTC_ZONE: Final = ZoneInfo("UTC")
_NO_OFFSET: Final = timedelta(0)

Cadence = Literal["hour", "day", "week", "month"]

_HOUR: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}")
_WEEK: Final = re.compile(r"(\d{4})-W(\d{2})")
_MONTH: Final = re.compile(r"(\d{4})-(\d{2})")
_EXAMPLE: Final = {"hour": "2026-11-24T13", "day": "2026-11-24", "week": "2026-W48", "month": "2026-11"}


class PeriodError(ValueError):
    """Not a period of this cadence; the message gives the expected form."""


class PeriodNotOver(Exception):
    """The period has not ended yet in the reporting time zone; ``earliest`` (UTC) is when it may first run."""

    def __init__(self, cadence: Cadence, label: str, earliest: datetime, zone: ZoneInfo) -> None:
        self.label = label
        self.earliest = earliest
        local = "" if cadence == "hour" else f" (midnight in {zone.key})"
        super().__init__(f"the {cadence} {label} ends at {_utc_text(earliest)}{local}, the earliest it may run")


def day_of(at: datetime, zone: ZoneInfo = UTC_ZONE) -> date:
    """The reporting day of an instant: its date in the reporting time zone (UTC unless configured)."""
    if zone is UTC_ZONE and at.utcoffset() == _NO_OFFSET:
        return at.date()  # the common case, on every event of every projection: no conversion
    return at.astimezone(zone).date()


def hour_number(at: datetime) -> int:
    """The UTC hour an instant falls in, as a number (hours since 0001-01-01 UTC): cheap to hash and count.

    Projections count millions of events by hour; an aware datetime as a key
    costs a UTC-offset call at each hash, an int does not. ``hour_start`` turns
    it back.
    """
    if at.tzinfo is not UTC:  # stored events decode in UTC; others are converted
        at = at.astimezone(UTC)
    return at.toordinal() * 24 + at.hour


def hour_start(number: int) -> datetime:
    """The start (UTC) of the hour ``hour_number`` gave."""
    return datetime.fromordinal(number // 24).replace(hour=number % 24, tzinfo=UTC)


def previous_period(cadence: Cadence, at: datetime, zone: ZoneInfo = UTC_ZONE) -> str:
    """The last complete period before ``at``: what a scheduled run at ``at`` computes.

    Days, weeks and months are those of the reporting time zone; hours are UTC hours.
    """
    if cadence == "hour":
        at = at.astimezone(UTC)
        return _hour_label(at.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1))
    today = day_of(at, zone)
    if cadence == "day":
        return (today - timedelta(days=1)).isoformat()
    if cadence == "week":
        return _week_label(today - timedelta(days=today.weekday() + 7))
    first_of_month = today.replace(day=1)
    return (first_of_month - timedelta(days=1)).strftime("%Y-%m")


def period_end(cadence: Cadence, label: str, zone: ZoneInfo = UTC_ZONE) -> datetime:
    """The instant (UTC) a period ends: midnight after its last day in the reporting zone; an hour's end."""
    if cadence == "hour":
        return hour_of(label) + timedelta(hours=1)
    _, last = days_of(cadence, label)
    return datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)


def check_over(cadence: Cadence, label: str, now: datetime, zone: ZoneInfo = UTC_ZONE) -> None:
    """Refuse (PeriodNotOver) a period that has not ended at ``now``: its figures would be partial, or empty.

    A job run for it would record a closed day, week or month as final while
    its events are still arriving. None of the jobs adds a delay after the end.
    """
    end = period_end(cadence, label, zone)
    if now < end:
        raise PeriodNotOver(cadence, label, end, zone)


def following_period(cadence: Cadence, label: str) -> str:
    """The label of the period right after ``label`` (labels of one cadence sort in time order)."""
    if cadence == "hour":
        return _hour_label(hour_of(label) + timedelta(hours=1))
    _, last = days_of(cadence, label)
    return parse_period(cadence, (last + timedelta(days=1)).isoformat())


def parse_period(cadence: Cadence, text: str) -> str:
    """The canonical label of ``text``; a week or a month may also be named by any date inside it."""
    text = text.strip()
    try:
        if cadence == "hour" and _HOUR.fullmatch(text):
            return _hour_label(datetime.strptime(text, "%Y-%m-%dT%H").replace(tzinfo=UTC))
        if cadence == "week" and (m := _WEEK.fullmatch(text)):
            return _week_label(date.fromisocalendar(int(m[1]), int(m[2]), 1))
        if cadence == "month" and (m := _MONTH.fullmatch(text)):
            return date(int(m[1]), int(m[2]), 1).strftime("%Y-%m")
        if cadence != "hour":
            day = date.fromisoformat(text) if len(text) == 10 else None
            if day is not None:
                return {"day": day.isoformat(), "week": _week_label(day), "month": day.strftime("%Y-%m")}[cadence]
    except ValueError:
        pass
    raise PeriodError(f"{text!r} is not a {cadence}; write it like {_EXAMPLE[cadence]}")


def days_of(cadence: Cadence, label: str) -> tuple[date, date]:
    """The first and last day of a day, week or month label (days of the reporting zone)."""
    if cadence == "day":
        day = date.fromisoformat(label)
        return day, day
    if cadence == "week":
        m = _WEEK.fullmatch(label)
        assert m is not None
        monday = date.fromisocalendar(int(m[1]), int(m[2]), 1)
        return monday, monday + timedelta(days=6)
    if cadence == "month":
        first = date.fromisoformat(label + "-01")
        following = (first + timedelta(days=32)).replace(day=1)
        return first, following - timedelta(days=1)
    start = hour_of(label)
    return start.date(), start.date()


def hour_of(label: str) -> datetime:
    """The start (UTC) of an hour label."""
    return datetime.strptime(label, "%Y-%m-%dT%H").replace(tzinfo=UTC)


def _utc_text(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _hour_label(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H")


def _week_label(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"
