"""Use case: take a batch from a Segment or RudderStack SDK and hand its catalog events to ingestion.

Each message is mapped on its own (:mod:`application.sources.mapping`). The
catalog events go through :meth:`Ingestion.prepare` exactly as the app's own
events do, sent by the write key's source (``write_key:<source>``); messages
the catalog cannot hold become rejections, kept in quarantine with their
reasons. Every index in the answer is a position in the SDK's batch.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import msgspec

from application.ingest.ingestion import Ingestion, PreparedBatch, Rejection
from application.ingest.quarantining import Quarantinable
from application.ports import Clock
from application.principals import Principal
from application.sources.mapping import BatchFields, Ignored, Mapped, Unmapped, map_message
from application.sources.message import deeper_than
from domain.catalog import CatalogEvent
from domain.errors import FieldError
from domain.timing import Timing

__all__ = [
    "MAX_BATCH_MESSAGES",
    "InvalidSegmentRequest",
    "SegmentIntake",
    "SegmentPrepared",
    "SegmentRequest",
    "WriteKeys",
    "parse_batch",
    "parse_message",
]

MAX_BATCH_MESSAGES: Final = 2500  # Segment's limit


class InvalidSegmentRequest(Exception):
    """The request cannot be read as a whole; the message says what to fix."""


class SegmentRequest(msgspec.Struct, frozen=True, kw_only=True):
    """The messages of one request, the batch's shared fields, and the write key it carried, if any."""

    messages: list[bytes]
    batch: BatchFields
    write_key: str | None
    message_type: str | None = None  # set by the one-message routes (/v1/track, ...)


class SegmentPrepared(msgspec.Struct, frozen=True, kw_only=True):
    """The request ready for the group commit, and how many messages needed nothing recorded."""

    batch: PreparedBatch
    ignored: int


class _BatchBody(msgspec.Struct, frozen=True, rename={"sent_at": "sentAt", "write_key": "writeKey"}):
    batch: list[msgspec.Raw]
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None
    sent_at: Any = None
    write_key: str | None = None


_BATCH_DECODER: Final = msgspec.json.Decoder(_BatchBody)


def parse_batch(body: bytes) -> SegmentRequest:
    """``/v1/batch`` and ``/v1/b``: ``{"batch": [...], "context"?, "integrations"?, "sentAt"?, "writeKey"?}``."""
    try:
        parsed = _BATCH_DECODER.decode(body)
    except msgspec.ValidationError as e:
        raise InvalidSegmentRequest(f"request body: {e}") from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as e:
        raise InvalidSegmentRequest(f"request body is not JSON this service can read: {e}") from None
    if len(parsed.batch) > MAX_BATCH_MESSAGES:
        raise InvalidSegmentRequest(
            f"batch has {len(parsed.batch)} messages; at most {MAX_BATCH_MESSAGES} allowed: send smaller batches"
        )
    batch = BatchFields(context=parsed.context, integrations=parsed.integrations, sent_at=parsed.sent_at)
    if deeper_than([batch.context, batch.integrations, batch.sent_at]):
        raise InvalidSegmentRequest("request body: context or integrations are nested too deeply")
    return SegmentRequest(messages=[bytes(raw) for raw in parsed.batch], batch=batch, write_key=parsed.write_key)


def parse_message(body: bytes, message_type: str) -> SegmentRequest:
    """``/v1/track``, ``/v1/identify``, ...: the body is one message, which may carry ``writeKey``."""
    try:
        message = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as e:
        raise InvalidSegmentRequest(f"request body is not JSON this service can read: {e}") from None
    if not isinstance(message, dict):
        raise InvalidSegmentRequest("request body must be a JSON object: one Segment message")
    write_key = message.pop("writeKey", None)  # a secret: never kept with the message
    if write_key is not None and not isinstance(write_key, str):
        raise InvalidSegmentRequest("writeKey: must be a string")
    return SegmentRequest(
        messages=[msgspec.json.encode(message)], batch=BatchFields(), write_key=write_key, message_type=message_type
    )


class WriteKeys:
    """The configured write keys; each names the source whose messages it may send."""

    def __init__(self, sources_by_key: Mapping[str, str]) -> None:
        self._sources = {key.encode(): source for key, source in sources_by_key.items()}

    def source_of(self, key: str) -> str | None:
        """The source of ``key``, or None; every key is compared, in constant time."""
        found = None
        for known, source in self._sources.items():
            if hmac.compare_digest(known, key.encode()):
                found = source
        return found


class SegmentIntake:
    def __init__(self, ingestion: Ingestion, clock: Clock) -> None:
        self._ingestion = ingestion
        self._clock = clock

    def prepare(self, request: SegmentRequest, *, source: str, client_ip: str | None = None) -> SegmentPrepared:
        """Map and check every message; what is not a catalog event is rejected and kept in quarantine."""
        received_at = self._clock.now()
        outcomes = [
            map_message(
                raw, batch=request.batch, source=source, received_at=received_at, message_type=request.message_type
            )
            for raw in request.messages
        ]
        groups = _by_sent_at([(index, o) for index, o in enumerate(outcomes) if isinstance(o, Mapped)])
        valid: list[tuple[int, tuple[CatalogEvent, Timing]]] = []
        rejected = [Rejection(i, o.message_id, o.errors) for i, o in enumerate(outcomes) if isinstance(o, Unmapped)]
        quarantine = [_quarantinable(o) for o in outcomes if isinstance(o, Unmapped)]
        prepared_groups = []
        for sent_at, group in groups.items():
            # One clock correction per call: messages sent at another moment go in another call.
            prepared = self._ingestion.prepare(
                [mapped.raw for _, mapped in group],
                sent_at=sent_at,
                principal=Principal.write_key(source),
                source=f"segment:{source}",
                received_at=received_at,
                client_ip=client_ip,
            )
            prepared_groups.append(prepared)
            refused = {r.index for r in prepared.rejected}
            kept = [index for position, (index, _) in enumerate(group) if position not in refused]
            valid.extend(zip(kept, prepared.valid, strict=True))
            rejected.extend(_in_message_terms(r, *group[r.index]) for r in prepared.rejected)
            quarantine.extend(prepared.quarantine)
        batch = msgspec.structs.replace(
            prepared_groups[0],  # ingestion's batch for this request (sender, source, network, ...)
            valid=[event for _, event in sorted(valid, key=lambda item: item[0])],  # in the batch's order
            rejected=sorted(rejected, key=lambda r: r.index),
            quarantine=quarantine,
            # Kept with quarantined events, for replay; a batch has one sentAt in practice.
            sent_at=next((sent_at for sent_at in groups if sent_at is not None), None),
        )
        return SegmentPrepared(batch=batch, ignored=sum(isinstance(o, Ignored) for o in outcomes))


def _by_sent_at(mapped: Sequence[tuple[int, Mapped]]) -> dict[datetime | None, list[tuple[int, Mapped]]]:
    """Mapped messages by the moment they were sent; at least one (maybe empty) group."""
    groups: dict[datetime | None, list[tuple[int, Mapped]]] = {}
    for index, outcome in mapped:
        groups.setdefault(outcome.sent_at, []).append((index, outcome))
    return groups or {None: []}


def _quarantinable(outcome: Unmapped) -> Quarantinable:
    return Quarantinable(
        raw=outcome.raw,
        errors=outcome.errors,
        app_user_id=outcome.app_user_id,
        is_consent_update=outcome.is_consent_update,
    )


def _in_message_terms(rejection: Rejection, index: int, mapped: Mapped) -> Rejection:
    """The catalog's verdict on a mapped message, told with the message's position, id and field names."""
    errors = [FieldError(mapped.source_path(e.path), e.message) for e in rejection.errors]
    return Rejection(index, mapped.message_id, errors)
