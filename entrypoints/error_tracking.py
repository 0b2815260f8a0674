"""Error tracking: unhandled errors, jobs that failed after their retries, and storage outages, sent to Sentry.

Off unless ``ADDVALUE_SENTRY_DSN`` is set (any Sentry-compatible service:
Sentry, GlitchTip). Every process starts it the same way (``serve`` and each
of its workers, ``worker``, the CLI), tagged with the release, the environment
and the process. What is reported:

- the log lines at level error (an HTTP request that failed with 500, a
  projection or job round that raised, a job that failed after its retries),
  with their exception and stack when there is one, and the route, job or view
  as tags;
- storage outages (``storage.unavailable``, ``*.storage_unavailable``), at
  most one report per kind every 5 minutes per process;
- what the SDK catches itself: an exception nothing caught in the main thread
  or a thread, and stdlib ``logging`` errors (uvicorn's).

Nothing personal leaves: the SDK's own collection of personal data is off, no
local variables or request bodies are taken, and every event passes
``scrubbed`` (the log scrubber of entrypoints/logging.py) before it is sent.
"""

from __future__ import annotations

import threading
import time
from importlib import metadata
from typing import TYPE_CHECKING, Any, Final, cast

from entrypoints.logging import report_lines_to, scrub_personal_data
from entrypoints.settings_sources import ErrorTrackingSettings

if TYPE_CHECKING:
    from sentry_sdk._types import DataCollectionUserOptions
    from sentry_sdk.types import Breadcrumb, BreadcrumbHint, Event, Hint
    from structlog.typing import EventDict

__all__ = [
    "OUTAGE_EVERY_SECONDS",
    "TAGS",
    "report_outage",
    "scrubbed",
    "start_error_tracking",
    "stop_error_tracking",
]

# Keys of a log line that become tags: what failed, never whose data.
TAGS: Final = ("route", "job", "view", "outbox", "period", "command")
OUTAGE_EVERY_SECONDS: Final = 300.0
# Parts of an event kept as the SDK made them: ids, the runtime, the SDK, the packages.
_KEPT: Final = frozenset(
    {"event_id", "timestamp", "platform", "level", "release", "environment", "server_name", "sdk", "modules"}
    | {"type", "start_timestamp", "tags", "fingerprint", "logger"}
)
_DROPPED: Final = ("user", "request")  # who asked and what they sent: never sent on
_NOT_A_LINE: Final = frozenset({"event", "exc_info", "timestamp", "level"})
_reporters: list[_Reporter] = []  # the one of this process, once started
_OFF: Final[dict[str, Any]] = {"mode": "off"}
# What the SDK's integrations may collect by themselves: no person, header, cookie, body, query, SQL
# parameter or local variable (the source lines around each frame stay, they are our code).
_NOTHING_PERSONAL: Final[dict[str, Any]] = {
    "user_info": False,
    "cookies": _OFF,
    "http_headers": {"request": _OFF},
    "http_bodies": [],
    "url_query_params": _OFF,
    "graphql": {"document": False, "variables": False},
    "gen_ai": {"inputs": False, "outputs": False},
    "database_query_data": False,
    "queues": False,
    "stack_frame_variables": False,
}


def start_error_tracking(settings: ErrorTrackingSettings, *, process: str) -> bool:
    """Start the SDK in this process when a DSN is configured; True if it was started."""
    if settings.dsn is None:
        return False
    import sentry_sdk  # noqa: PLC0415 - only a process that reports pays for the import
    from sentry_sdk.integrations.litestar import LitestarIntegration  # noqa: PLC0415

    sentry_sdk.init(
        dsn=settings.dsn,
        release=f"addvalue-analytics@{_version()}",
        environment=settings.environment,
        data_collection=cast("DataCollectionUserOptions", _NOTHING_PERSONAL),
        auto_enabling_integrations=False,
        # Request traces come from Litestar's integration; without a rate no trace is taken, and it stays out.
        integrations=[LitestarIntegration()] if settings.traces_rate else [],
        traces_sample_rate=settings.traces_rate,
        before_send=_before_send,
        before_send_transaction=_before_send,
        before_breadcrumb=_before_breadcrumb,
    )
    sentry_sdk.set_tag("process", process)
    _reporters[:] = [_Reporter()]
    report_lines_to(_reporters[0])
    return True


def report_outage(**fields: object) -> None:
    """A storage outage met outside a log line (the CLI's refusal), reported as ``storage.unavailable`` would be."""
    for reporter in _reporters:
        reporter("error", {"event": "storage.unavailable", **fields})


def stop_error_tracking() -> None:
    """Send what is queued and stop (a CLI command at its end; tests)."""
    report_lines_to(None)
    _reporters.clear()
    import sentry_sdk  # noqa: PLC0415

    client = sentry_sdk.get_client()
    if client.is_active():
        client.flush(timeout=5)
        client.close()


class _Reporter:
    """Hands the log lines that matter to the SDK, each in a scope of its own with its tags."""

    def __init__(self) -> None:
        self._last_outage: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, method_name: str, line: EventDict) -> None:
        event = str(line.get("event", ""))
        outage = event == "storage.unavailable" or event.endswith(".storage_unavailable")
        if outage and not self._outage_due(event):
            return
        if not outage and method_name not in ("error", "critical", "exception"):
            return
        _capture(event, line, outage=outage)

    def _outage_due(self, kind: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._last_outage.get(kind, -OUTAGE_EVERY_SECONDS) < OUTAGE_EVERY_SECONDS:
                return False
            self._last_outage[kind] = now
            return True


def _capture(event: str, line: EventDict, *, outage: bool) -> None:
    import sys  # noqa: PLC0415

    import sentry_sdk  # noqa: PLC0415

    with sentry_sdk.new_scope() as scope:
        scope.set_tag("log_event", event)
        for key, value in line.items():
            if key in TAGS:
                scope.set_tag(key, str(value))
            elif key not in _NOT_A_LINE:
                scope.set_extra(key, value)
        if outage:
            scope.fingerprint = ["storage-outage", event]
        exc_info = line.get("exc_info")
        error = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1] if exc_info else None
        if error is not None:
            sentry_sdk.capture_exception(error)
        else:
            sentry_sdk.capture_message(f"storage outage: {event}" if outage else event, level="error")


def scrubbed(event: dict[str, Any]) -> dict[str, Any]:
    """The event with nothing personal: no user or request, and every other part through the log scrubber."""
    clean = {key: value for key, value in event.items() if key not in _DROPPED}
    for key, value in clean.items():
        if key == "contexts" and isinstance(value, dict):
            trace = value.get("trace")
            clean[key] = _scrub({k: v for k, v in value.items() if k != "trace"}) | ({"trace": trace} if trace else {})
        elif key not in _KEPT:
            clean[key] = _scrub(value)
    if isinstance(clean.get("tags"), dict):
        clean["tags"] = _scrub(clean["tags"])
    return clean


def _scrub(value: Any) -> Any:
    return scrub_personal_data(None, "", {"value": value})["value"]


def _before_send(event: Event, _hint: Hint) -> Event | None:
    if _from_litestar(cast(dict[str, Any], event)):
        return None  # the integration's copy of what our error log line reports (or a 4xx): only ours is sent
    return cast("Event", scrubbed(cast(dict[str, Any], event)))


def _from_litestar(event: dict[str, Any]) -> bool:
    values = (event.get("exception") or {}).get("values") or []
    return any((v.get("mechanism") or {}).get("type") == "litestar" for v in values)


def _before_breadcrumb(crumb: Breadcrumb, _hint: BreadcrumbHint) -> Breadcrumb | None:
    return cast("Breadcrumb", _scrub(crumb))


def _version() -> str:
    try:
        return metadata.version("addvalue-analytics")
    except metadata.PackageNotFoundError:
        return "unknown"
