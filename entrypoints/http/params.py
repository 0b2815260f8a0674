"""The /api's parameters: their declared types (so the OpenAPI document states each one's format and range), and
the checks Litestar cannot make alone: days, UUIDs, default days.

Days and UUIDs stay strings for Litestar and are parsed here, so that a bad one is told what it should look like;
the ``format`` in the document is for clients. Page bounds are checked by Litestar (400 ``bad_parameter``).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Final, Literal
from uuid import UUID

from litestar.openapi.spec import Example
from litestar.openapi.spec.enums import OpenAPIFormat
from litestar.params import PathParameter, QueryParameter
from litestar.status_codes import HTTP_400_BAD_REQUEST

from application.reporting.queries import Analytics
from entrypoints.http.errors import ApiError

__all__ = [
    "MAX_PAGE",
    "MONTH_PATTERN",
    "WEEK_PATTERN",
    "After",
    "Day",
    "ExportFormat",
    "From",
    "Limit",
    "Month",
    "PersonId",
    "PersonIdPath",
    "StreamIdPath",
    "To",
    "Week",
    "day",
    "day_range",
    "period",
    "uuid",
    "yesterday",
]

MAX_PAGE: Final = 1000
# The storage's sequence numbers are signed 64-bit: a larger ``after`` overflowed SQLite's driver (a 500).
MAX_POSITION: Final = 2**63 - 1

# Periods as the document declares them, so that what it allows is exactly what is taken: a year 0001-9999, an ISO
# week 01-52 or a month, or a day inside it. The 53rd week some years have is named by a day in it (e.g. 2026-12-31).
_YEAR: Final = r"(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
_MONTH: Final = r"(?:0[1-9]|1[0-2])"
# A day that exists in every year (29 February is in the date form only: JSON Schema has no leap years).
_DAY: Final = rf"{_YEAR}-(?:{_MONTH}-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
WEEK_PATTERN: Final = rf"^(?:{_YEAR}-W(?:0[1-9]|[1-4][0-9]|5[0-2])|{_DAY})$"
MONTH_PATTERN: Final = rf"^(?:{_YEAR}-{_MONTH}|{_DAY})$"
_PERIOD_PATTERNS: Final = {"week": re.compile(WEEK_PATTERN), "month": re.compile(MONTH_PATTERN)}
_PERIOD_EXAMPLES: Final = {"week": "2026-W05", "month": "2026-01"}
_ISO_DAY: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _examples(*values: str) -> list[Example]:
    return [Example(value=value) for value in values]


_A_PERSON: Final = _examples("0b6c2f1e-52f5-4a5f-9d39-8b2f0f4d1a11")


def _period(pattern: str, example: str) -> QueryParameter:
    """A week or a month: the pattern, or a day inside the period (``2026-01-28``)."""
    description = f"e.g. {example}, or a day in it, e.g. 2026-01-28"
    return QueryParameter(pattern=pattern, description=description, examples=_examples(example, "2026-01-28"))


Week = Annotated[str | None, _period(WEEK_PATTERN, "2026-W05")]
Month = Annotated[str | None, _period(MONTH_PATTERN, "2026-01")]
From = Annotated[
    str | None,
    QueryParameter(name="from", format=OpenAPIFormat.DATE, description="first day", examples=_examples("2026-11-01")),
]
To = Annotated[
    str | None, QueryParameter(format=OpenAPIFormat.DATE, description="last day", examples=_examples("2026-11-24"))
]
Day = Annotated[
    str | None,
    QueryParameter(format=OpenAPIFormat.DATE, description="a day, e.g. 2026-11-24", examples=_examples("2026-11-24")),
]


def _bounded(low: int, high: int, description: str) -> QueryParameter:
    """An integer query parameter that Litestar keeps within [low, high] (else 400 ``bad_parameter``).

    Litestar writes ge/le into the document as floats, and 2**63 - 1 as a float is 2**63: the exact integers
    go in schema_extra, so that the document's maximum is the largest value accepted."""
    return QueryParameter(ge=low, le=high, schema_extra={"minimum": low, "maximum": high}, description=description)


After = Annotated[int, _bounded(0, MAX_POSITION, "only what comes after this position (0: from the start)")]
Limit = Annotated[int, _bounded(1, MAX_PAGE, f"at most this many (1 to {MAX_PAGE})")]
PersonId = Annotated[
    str, QueryParameter(format=OpenAPIFormat.UUID, required=True, description="the app user's id", examples=_A_PERSON)
]
PersonIdPath = Annotated[
    str, PathParameter(format=OpenAPIFormat.UUID, description="the app user's id", examples=_A_PERSON)
]
StreamIdPath = Annotated[str, PathParameter(format=OpenAPIFormat.UUID, description="an aggregate's id")]


ExportFormat = Annotated[
    Literal["json", "zip"], QueryParameter(description="json, or zip: JSON and a CSV per event type")
]


def day(name: str, value: str | None, default: date) -> date:
    """``value`` as a day (``format: date``: 2026-11-24 and nothing else), or ``default``; 400 when it is not one."""
    if value is None:
        return default
    try:
        if _ISO_DAY.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise ApiError(HTTP_400_BAD_REQUEST, "bad_parameter", f"{name}: expected a date like 2026-11-24")


def period(cadence: Literal["week", "month"], value: str | None) -> str | None:
    """``value`` if it is what the document's pattern allows; 400 otherwise (the use case reads the label)."""
    if value is None or _PERIOD_PATTERNS[cadence].fullmatch(value):
        return value
    example = _PERIOD_EXAMPLES[cadence]
    raise ApiError(HTTP_400_BAD_REQUEST, "bad_parameter", f"{cadence}: expected a {cadence} like {example}, or a day")


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
