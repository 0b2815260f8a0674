"""The mapper that encrypts every event under its subject's own key (crypto-shredding).

Stored ``state`` layout, version 1::

    format (1 byte) | subject id (16 bytes) | body

``format`` 1: body is ``nonce || AES-256-GCM(msgpack state) || tag`` under the
subject's data key, with associated data ``stream id : version : topic``.
``format`` 0: body is plain msgpack, only for event classes that declare
``is_personal = False`` (for example the record that an erasure happened).

The subject id stays in clear so that history can be found per subject and a
missing key recognised without trying it; it is random and, once the key
store's mapping is destroyed, links to no one.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import Any, Final, Protocol, get_type_hints
from uuid import UUID

import msgspec
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, resolve_topic

from adapters.encryption.envelope import Tampered, seal, unseal
from domain.errors import SubjectErased
from domain.redacted import RedactedEvent

__all__ = ["DataKeys", "EncryptingMapper", "TamperedEvent", "subject_of_state"]

_SEALED: Final = 1
_PLAIN: Final = 0
_HEADER: Final = 17
_ENVELOPE_FIELDS: Final = ("originator_id", "originator_version")
_REDACTED_TOPIC: Final = get_topic(RedactedEvent)


class DataKeys(Protocol):
    def data_key(self, subject_id: UUID) -> bytes | None: ...


class TamperedEvent(MapperDeserialisationError):
    """The key exists but the stored event fails authentication."""


class _NoTranscoder(Transcoder):
    """The library's Mapper wants a transcoder; ours encodes with msgspec directly."""

    def encode(self, obj: Any) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:
        raise NotImplementedError


def subject_of_state(state: bytes) -> UUID:
    """The subject an encoded event belongs to, read without decrypting anything."""
    return UUID(bytes=bytes(state[1:_HEADER]))


@cache
def _state_type(event_class: type) -> type[msgspec.Struct]:
    """A msgspec Struct with the event's fields, so decoding restores real types."""
    hints = get_type_hints(event_class)
    fields = [(f.name, hints[f.name]) for f in dataclasses.fields(event_class) if f.name not in _ENVELOPE_FIELDS]
    return msgspec.defstruct(f"{event_class.__qualname__}State", fields)


def _associated_data(originator_id: UUID | str, version: int, topic: str) -> bytes:
    return f"{originator_id}:{version}:{topic}".encode()


class EncryptingMapper(Mapper[UUID]):
    def __init__(self, keys: DataKeys) -> None:
        super().__init__(transcoder=_NoTranscoder())
        self._keys = keys
        self._encoder = msgspec.msgpack.Encoder()

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        topic = get_topic(type(domain_event))
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        version = state.pop("originator_version")
        subject_id: UUID = state["subject_id"]
        payload = self._encoder.encode(state)
        if not getattr(type(domain_event), "is_personal", True):
            body, fmt = payload, _PLAIN
        else:
            key = self._keys.data_key(subject_id)
            if key is None:
                raise SubjectErased(f"subject {subject_id} was erased; nothing more can be written for it")
            body, fmt = seal(key, payload, _associated_data(originator_id, version, topic)), _SEALED
        return StoredEvent(
            originator_id=originator_id,
            originator_version=version,
            topic=topic,
            state=bytes([fmt]) + subject_id.bytes + body,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        raw = bytes(stored_event.state)
        subject_id = subject_of_state(raw)
        originator_id = stored_event.originator_id
        version = stored_event.originator_version
        if raw[0] == _PLAIN:
            payload = raw[_HEADER:]
        else:
            key = self._keys.data_key(subject_id)
            if key is None:
                return self._redacted(stored_event, subject_id)
            aad = _associated_data(originator_id, version, stored_event.topic)
            try:
                payload = unseal(key, raw[_HEADER:], aad)
            except Tampered as e:
                msg = f"stored event {originator_id} v{version} ({stored_event.topic}): {e}"
                raise TamperedEvent(msg) from None
        event_class = resolve_topic(stored_event.topic)
        try:
            decoded = msgspec.msgpack.decode(payload, type=_state_type(event_class))
        except msgspec.MsgspecError as e:
            raise MapperDeserialisationError(f"stored event {originator_id} v{version}: {e}") from e
        state = msgspec.structs.asdict(decoded)
        state["originator_id"] = originator_id
        state["originator_version"] = version
        event: DomainEventProtocol[UUID] = _build(event_class, state)
        return event

    @staticmethod
    def _redacted(stored_event: StoredEvent, subject_id: UUID) -> RedactedEvent:
        state = {
            "originator_id": stored_event.originator_id,
            "originator_version": stored_event.originator_version,
            "timestamp": None,
            "original_topic": stored_event.topic,
            "subject_id": subject_id,
        }
        redacted: RedactedEvent = _build(RedactedEvent, state)
        return redacted


def _build(event_class: type[Any], state: dict[str, Any]) -> Any:
    # As the library's own mapper does: events are frozen dataclasses.
    event = object.__new__(event_class)
    object.__setattr__(event, "__dict__", state)
    return event
