"""The /api's parameters: their declared types (so the OpenAPI document states each one's format and range), and
the checks Litestar cannot make alone: days, UUIDs, default days.

Days and UUIDs stay strings for Litestar and are parsed here, so that a bad one is told what it should look like;
the ``format`` in the document is for clients. Page bounds are checked by Litestar (400 ``bad_parameter``).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Final
from uuid import UUID

from litestar.openapi.spec.enums import OpenAPIFormat
from litestar.params import PathParameter, QueryParameter
from litestar.status_codes import HTTP_400_BAD_REQUEST

from application.reporting.queries import Analytics
from entrypoints.http.errors import ApiError

__all__ = [
    "MAX_PAGE",
    "After",
    "Day",
    "From",
    "Limit",
    "PersonId",
    "PersonIdPath",
    "StreamIdPath",
    "To",
    "day",
    "day_range",
    "uuid",
    "yesterday",
]

MAX_PAGE: Final = 1000
# The storage's sequence numbers are signed 64-bit: a larger ``after`` overflowed SQLite's driver (a 500).
MAX_POSITION: Final = 2**63 - 1

From = Annotated[
    str | None, QueryParameter(name="from", format=OpenAPIFormat.DATE, description="first day, e.g. 2026-11-01")
]
To = Annotated[str | None, QueryParameter(format=OpenAPIFormat.DATE, description="last day, e.g. 2026-11-24")]
Day = Annotated[str | None, QueryParameter(format=OpenAPIFormat.DATE, description="a day, e.g. 2026-11-24")]


def _bounded(low: int, high: int, description: str) -> QueryParameter:
    """An integer query parameter that Litestar keeps within [low, high] (else 400 ``bad_parameter``).

    Litestar writes ge/le into the document as floats, and 2**63 - 1 as a float is 2**63: the exact integers
    go in schema_extra, so that the document's maximum is the largest value accepted."""
    return QueryParameter(ge=low, le=high, schema_extra={"minimum": low, "maximum": high}, description=description)


After = Annotated[int, _bounded(0, MAX_POSITION, "only what comes after this position (0: from the start)")]
Limit = Annotated[int, _bounded(1, MAX_PAGE, f"at most this many (1 to {MAX_PAGE})")]
PersonId = Annotated[str | None, QueryParameter(format=OpenAPIFormat.UUID, description="the app user's id")]
PersonIdPath = Annotated[str, PathParameter(format=OpenAPIFormat.UUID, description="the app user's id")]
StreamIdPath = Annotated[str, PathParameter(format=OpenAPIFormat.UUID, description="an aggregate's id")]


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


def yesterday(analytics: Analytics) -> date:
    """The last closed day in the reporting time zone: the default day of per-day figures."""
    return analytics.today() - timedelta(days=1)
