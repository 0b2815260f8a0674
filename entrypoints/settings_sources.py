"""Settings of the app databases' outboxes and of error tracking: read by ``load_settings``, kept in ``Settings``.

Each reader takes the environment and returns its frozen part, or raises
``ValueError`` with a message naming the variable (``load_settings`` turns it
into a ``SettingsError``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final, TypedDict

import msgspec

__all__ = [
    "ErrorTrackingSettings",
    "OutboxSettings",
    "SourceParts",
    "error_tracking_settings",
    "outbox_settings",
    "outbox_urls",
    "source_settings",
]

# Where the next URL of ADDVALUE_OUTBOX_URLS starts: a comma before a scheme (multi-host URLs have other commas).
_URL_START: Final = re.compile(r",\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)")
_PASSWORD: Final = re.compile(r"(?<=://)([^/@:]*):[^/@]*@")


class OutboxSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The app databases whose outbox the service follows (docs/pipeline.md, "The app's database as a source")."""

    # ADDVALUE_OUTBOX_URLS: libpq URLs of the app databases where `addvalue outbox install` ran.
    urls: tuple[str, ...] = ()
    # ADDVALUE_OUTBOX_RETENTION_HOURS: delivered rows are deleted this many hours after delivery.
    retention_hours: float = 24.0


class ErrorTrackingSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Where unhandled errors, failed jobs and storage outages are reported (docs/operations.md, "Error tracking")."""

    # ADDVALUE_SENTRY_DSN: a Sentry (or GlitchTip) project's DSN; None: nothing is sent.
    dsn: str | None = None
    # ADDVALUE_SENTRY_TRACES_RATE: the share of requests and jobs traced, 0 to 1; None: no performance traces.
    traces_rate: float | None = None
    # ADDVALUE_SENTRY_ENVIRONMENT: the environment each report is tagged with.
    environment: str = "production"


class SourceParts(TypedDict):
    """The parts of ``Settings`` this module reads."""

    outbox: OutboxSettings
    error_tracking: ErrorTrackingSettings


def source_settings(env: Mapping[str, str]) -> SourceParts:
    """Both parts; ``ValueError`` names the variable that is wrong."""
    return {"outbox": outbox_settings(env), "error_tracking": error_tracking_settings(env)}


def outbox_settings(env: Mapping[str, str]) -> OutboxSettings:
    raw = env.get("ADDVALUE_OUTBOX_RETENTION_HOURS", "24")
    try:
        hours = float(raw)
    except ValueError:
        hours = 0.0
    if not hours > 0:
        raise ValueError(f"ADDVALUE_OUTBOX_RETENTION_HOURS: must be a number of hours above 0, got {raw!r}")
    return OutboxSettings(urls=outbox_urls(env.get("ADDVALUE_OUTBOX_URLS", "")), retention_hours=hours)


def outbox_urls(value: str) -> tuple[str, ...]:
    """``ADDVALUE_OUTBOX_URLS``: comma-separated ``postgresql://`` URLs (a multi-host URL's commas are its own)."""
    urls = tuple(filter(None, (part.strip(" ,") for part in _URL_START.split(value))))
    for url in urls:
        if not url.startswith(("postgresql://", "postgres://")):
            shown = _PASSWORD.sub(r"\1:***@", url)
            raise ValueError(
                "ADDVALUE_OUTBOX_URLS: expected comma-separated libpq URLs like "
                f"postgresql://analytics@db.example.org:5432/app, got {shown!r}"
            )
    return urls


def error_tracking_settings(env: Mapping[str, str]) -> ErrorTrackingSettings:
    dsn = env.get("ADDVALUE_SENTRY_DSN", "").strip() or None
    if dsn is not None and not re.fullmatch(r"https?://[^@/\s]+@[^/\s]+/.*\d+", dsn):
        raise ValueError(
            "ADDVALUE_SENTRY_DSN: expected a DSN like https://<public key>@sentry.example.org/<project id> "
            "(the project's Client Keys page shows it)"
        )
    raw = env.get("ADDVALUE_SENTRY_TRACES_RATE", "").strip()
    try:
        rate = float(raw) if raw else None
    except ValueError:
        rate = -1.0
    if rate is not None and not 0 <= rate <= 1:
        raise ValueError(f"ADDVALUE_SENTRY_TRACES_RATE: must be a share between 0 and 1, e.g. 0.05; got {raw!r}")
    environment = env.get("ADDVALUE_SENTRY_ENVIRONMENT", "production").strip() or "production"
    return ErrorTrackingSettings(dsn=dsn, traces_rate=rate, environment=environment)
