"""The /api's query parameters that Litestar cannot check alone: days, UUIDs, page sizes, default days."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Final
from uuid import UUID

from litestar.params import QueryParameter
from litestar.status_codes import HTTP_400_BAD_REQUEST

from application.reporting.queries import Analytics
from entrypoints.http.errors import ApiError

__all__ = ["MAX_PAGE", "From", "To", "day", "day_range", "limit", "uuid", "yesterday"]

MAX_PAGE: Final = 1000

From = Annotated[str | None, QueryParameter(name="from", description="first day, e.g. 2026-11-01")]
To = Annotated[str | None, QueryParameter(description="last day, e.g. 2026-11-24")]


def day(name: str, value: str | None, default: date) -> date:
    """``value`` as a day, or ``default`` when it is not given; 400 when it is not a day."""
    if value is None:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ApiError(HTTP_400_BAD_REQUEST, "bad_parameter", f"{name}: expected a date like 2026-11-24") from None


def day_range(from_: str | None, to: str | None, last_default: date) -> tuple[date, date]:
    """[from, to]: ``to`` by default ``last_default``, ``from`` by default 29 days before ``to``."""
    last = day("to", to, last_default)
    return day("from", from_, last - timedelta(days=29)), last


def uuid(name: str, value: str | None) -> UUID:
    """``value`` as a UUID; 400 when it is missing or is not one."""
    if value is None:
        raise ApiError(HTTP_400_BAD_REQUEST, "missing_parameter", f"{name} is required (a UUID)")
    try:
        return UUID(value)
    except ValueError:
        raise ApiError(HTTP_400_BAD_REQUEST, "bad_parameter", f"{name}: expected a UUID") from None


def limit(value: int) -> int:
    """A page size, 1 to ``MAX_PAGE``."""
    if not 1 <= value <= MAX_PAGE:
        raise ApiError(HTTP_400_BAD_REQUEST, "bad_parameter", f"limit: must be 1 to {MAX_PAGE}")
    return value


def yesterday(analytics: Analytics) -> date:
    """The last closed day in the reporting time zone: the default day of per-day figures."""
    return analytics.today() - timedelta(days=1)
