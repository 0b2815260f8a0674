"""Use case: everything held about one person, as a machine-readable bundle (GDPR Art. 15 and 20).

The bundle (format ``addvalue-export/1``, docs/privacy.md) holds the profile,
the consent history, every collected event decrypted, the person's rejected
events kept under their key, and their per-person metrics. ``to_zip`` packs it
as ``export.json`` plus one CSV per event type under ``events/``.

Finding the person's streams reads the whole event log once (selecting by the
subject in each stored event's header, nothing else decrypted), so an export
costs about as much as a projection rebuild: seconds for millions of events.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime
from typing import Any, Final
from uuid import UUID

import msgspec

from application.errors import NotFound
from application.ports import Clock
from application.privacy.consent import ConsentBook
from application.privacy.erasure import ActiveSubjects
from application.privacy.history import History
from application.privacy.ports import PersonIndicesSource
from application.read_models.user_days import UserDaysProjection

__all__ = ["FORMAT", "Export"]

FORMAT: Final = "addvalue-export/1"
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
_EVENT_COLUMNS: Final = ("event_id", "occurred_at", "received_at", "session_id", "flags", "country", "region")


class Export:
    def __init__(
        self,
        *,
        readers: ActiveSubjects,
        history: History,
        consent: ConsentBook,
        user_days: UserDaysProjection,
        indices: PersonIndicesSource,
        clock: Clock,
    ) -> None:
        self._readers = readers
        self._history = history
        self._consent = consent
        self._user_days = user_days
        self._indices = indices
        self._clock = clock

    def bundle(self, app_user_id: UUID) -> dict[str, Any]:
        subject = self._readers.subject_for(app_user_id)
        if subject is None:
            raise NotFound("no data is held for this user (never seen, or erased)")
        profile: dict[str, Any] = {}
        events: list[dict[str, Any]] = []
        rejected: list[dict[str, Any]] = []
        for entry in self._history.of_subject(subject):
            if entry.redacted:
                continue
            if entry.event_type.startswith("User."):
                profile.setdefault("changes", []).append({"type": entry.event_type, **_plain(entry.data)})
            elif entry.event_type == "Session.EventsTracked":
                events.extend(_tracked(t) for t in entry.data.get("events", []))
            elif entry.event_type.startswith("QuarantinedEvent."):
                rejected.append({"type": entry.event_type, **_plain(entry.data)})
        days = self._user_days.days_of(subject, date.min, date.max)
        indices = []
        for day in days:
            found = self._indices.of(subject, day.day)
            if found is not None:
                indices.append({"date": day.day.isoformat(), **msgspec.to_builtins(found)})
        return {
            "format": FORMAT,
            "user_id": str(app_user_id),
            "exported_at": self._clock.now().isoformat(),
            "profile": profile,
            "consent": {
                "current": msgspec.to_builtins(self._consent.current(app_user_id)),
                "history": self._consent.history(app_user_id),
            },
            "events": sorted(events, key=lambda e: (e["occurred_at"], e["event_id"])),
            "rejected_events": rejected,
            "metrics": {
                "days": [
                    {"date": d.day.isoformat(), **d.counts, "moods_start": d.moods_start, "moods_end": d.moods_end}
                    for d in days
                ],
                "indices": indices,
            },
        }

    @staticmethod
    def to_zip(bundle: dict[str, Any]) -> bytes:
        """``export.json`` and ``events/<event_name>.csv``: one row per event, one column per property."""
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("export.json", msgspec.json.format(msgspec.json.encode(bundle)))
            by_name: dict[str, list[dict[str, Any]]] = {}
            for item in bundle["events"]:
                by_name.setdefault(item["event_name"], []).append(item)
            for name, items in sorted(by_name.items()):
                properties = sorted({k for item in items for k in item["properties"]})
                text = io.StringIO()
                writer = csv.writer(text)
                writer.writerow(_neutralised(*_EVENT_COLUMNS, *properties))
                for item in items:
                    geo = item.get("geo") or {}
                    writer.writerow(
                        _neutralised(
                            item["event_id"],
                            item["occurred_at"],
                            item["received_at"],
                            item["session_id"],
                            " ".join(item["flags"]),
                            geo.get("country", ""),
                            geo.get("region", ""),
                            *(_cell(item["properties"].get(p)) for p in properties),
                        )
                    )
                archive.writestr(f"events/{name}.csv", text.getvalue())
        return out.getvalue()


def _tracked(tracked: dict[str, Any]) -> dict[str, Any]:
    event = tracked["event"]
    return {
        "event_id": event["event_id"],
        "event_name": event["event_name"],
        "occurred_at": tracked["occurred_at"],
        "received_at": tracked["received_at"],
        "session_id": event["session_id"],
        "properties": event.get("properties", {}),
        "context": event.get("context", {}),
        "flags": list(tracked.get("flags", [])),
        "geo": tracked.get("geo"),
    }


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("subject_id", "originator_topic")}


def _cell(value: Any) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return msgspec.json.encode(value).decode()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (int, float)):  # bool too: a number is never read as a formula, -3 stays -3
        return value
    return str(value)


def _neutralised(*cells: str | int | float) -> list[str | int | float]:
    """The cells, each text that a spreadsheet would run as a formula prefixed with a single quote.

    Text from the app (a comment, a session id) starting with = + - @ (or a tab or carriage
    return, which some spreadsheets skip before one) is shown as text, not evaluated: no
    ``=HYPERLINK(...)`` or DDE payload runs when the person opens their export.
    """
    return [f"'{c}" if isinstance(c, str) and c.startswith(_FORMULA_STARTS) else c for c in cells]
