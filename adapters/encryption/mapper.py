"""The mapper that encrypts every event under its subject's own key (crypto-shredding).

Stored ``state`` layout::

    format (1 byte) | subject id (16 bytes) | body

``format`` 2 (written since issue 13): body is ``nonce || AES-256-GCM(msgpack
state) || tag`` under the subject's data key, with associated data
``addvalue/event/v2 | format | subject id | stream id : version : topic``, so
the header is authenticated with the body: a changed format byte or subject id
fails like a changed ciphertext.
``format`` 1 (older records, still read): the same, with associated data
``stream id : version : topic`` only.
``format`` 0: body is plain msgpack, only for event classes that declare
``is_personal = False`` (for example the record that an erasure happened). A
personal event found in this format was not written by this mapper: it is
reported as tampering (:class:`TamperedEvent`), never decoded.

The subject id stays in clear so that history can be found per subject and a
missing key recognised without trying it; it is random and, once the key
store's mapping is destroyed, links to no one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from typing import Any, Final, Protocol, get_type_hints
from uuid import UUID, SafeUUID

import msgspec
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, resolve_topic

from adapters.encryption.envelope import Tampered, seal, unseal
from domain.errors import SubjectErased
from domain.redacted import RedactedEvent

__all__ = ["DataKeys", "EncryptingMapper", "TamperedEvent", "subject_of_state"]

_SEALED: Final = 2  # header authenticated (issue 13)
_SEALED_V1: Final = 1  # header not authenticated: read, never written
_PLAIN: Final = 0
_V2_CONTEXT: Final = b"addvalue/event/v2"
_HEADER: Final = 17
_ENVELOPE_FIELDS: Final = ("originator_id", "originator_version")
_REDACTED_TOPIC: Final = get_topic(RedactedEvent)


class DataKeys(Protocol):
    def data_key(self, subject_id: UUID) -> bytes | None: ...

    def data_keys(self, subject_ids: Iterable[UUID]) -> dict[UUID, bytes]: ...


class TamperedEvent(MapperDeserialisationError):
    """The key exists but the stored event fails authentication."""


class _NoTranscoder(Transcoder):
    """The library's Mapper wants a transcoder; ours encodes with msgspec directly."""

    def encode(self, obj: Any) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:
        raise NotImplementedError


def subject_of_state(state: bytes) -> UUID:
    """The subject an encoded event belongs to, read without decrypting anything.

    Built as ``UUID.__init__`` ends, without its checks of which argument was
    given: a rebuild reads one per stored event, and ``UUID(bytes=...)`` was
    8% of a rebuild of one-person events (bench/rebuild.py --mixed).
    """
    subject = object.__new__(UUID)
    object.__setattr__(subject, "int", int.from_bytes(state[1:_HEADER], "big"))
    object.__setattr__(subject, "is_safe", _UNKNOWN_SAFETY)
    return subject


# An enum member read from its class goes through enum's property descriptor (Python 3.11): subject_of_state
# took 0.62 µs with it and takes 0.41 µs with this constant (timeit), once per stored event a rebuild reads.
_UNKNOWN_SAFETY: Final = SafeUUID.unknown


@cache
def _state_type(event_class: type) -> type[msgspec.Struct]:
    """A msgspec Struct with the event's fields, so decoding restores real types."""
    hints = get_type_hints(event_class)
    fields = [(f.name, hints[f.name]) for f in dataclasses.fields(event_class) if f.name not in _ENVELOPE_FIELDS]
    return msgspec.defstruct(f"{event_class.__qualname__}State", fields)


def _associated_data(fmt: int, subject: bytes, originator_id: UUID | str, version: int, topic: str) -> bytes:
    """``subject``: the subject's 16 bytes, as the header holds them (read back from it, not rebuilt, per event)."""
    position = f"{originator_id}:{version}:{topic}".encode()
    if fmt == _SEALED_V1:
        return position
    return _V2_CONTEXT + bytes([fmt]) + subject + position


def _is_personal(event_class: type) -> bool:
    return bool(getattr(event_class, "is_personal", True))


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
        if not _is_personal(type(domain_event)):
            body, fmt = payload, _PLAIN
        else:
            key = self._keys.data_key(subject_id)
            if key is None:
                raise SubjectErased(f"subject {subject_id} was erased; nothing more can be written for it")
            fmt = _SEALED
            body = seal(key, payload, _associated_data(fmt, subject_id.bytes, originator_id, version, topic))
        return StoredEvent(
            originator_id=originator_id,
            originator_version=version,
            topic=topic,
            state=bytes([fmt]) + subject_id.bytes + body,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        return self._decoded(stored_event, self._keys.data_key)

    def to_domain_events(
        self,
        stored_events: Sequence[StoredEvent],
        wanted: Callable[[str], bool] | None = None,
        shapes: Mapping[type, type] | None = None,
    ) -> list[DomainEventProtocol[UUID] | None]:
        """A page of stored events decoded, the keys of all its people read at once (rebuilds, catch-ups).

        With ``wanted`` (a test of the stored topic), an event it refuses is
        not decrypted nor decoded: it comes back as ``None``, or as a
        :class:`RedactedEvent` when its key is gone, as it would decoded.
        ``shapes`` maps an event class to a lighter Struct to decode its state
        into (fields it lacks are skipped, not built); others in full.
        """
        subjects = [None if s.state[0] == _PLAIN else subject_of_state(s.state) for s in stored_events]
        sealed = {subject for subject in subjects if subject is not None}
        keys = self._keys.data_keys(sealed) if sealed else {}
        decoded: list[DomainEventProtocol[UUID] | None] = []
        for stored_event, subject_id in zip(stored_events, subjects, strict=True):
            if wanted is None or wanted(stored_event.topic):
                decoded.append(self._decoded(stored_event, keys.get, subject_id, shapes))
            elif subject_id is not None and subject_id not in keys:
                decoded.append(self._redacted(stored_event, subject_id))
            else:
                decoded.append(None)
        return decoded

    def _decoded(
        self,
        stored_event: StoredEvent,
        key_of: Callable[[UUID], bytes | None],
        subject_id: UUID | None = None,
        shapes: Mapping[type, type] | None = None,
    ) -> DomainEventProtocol[UUID]:
        raw = bytes(stored_event.state)
        if subject_id is None:  # a plain event's subject, or the caller did not read it yet
            subject_id = subject_of_state(raw)
        originator_id = stored_event.originator_id
        version = stored_event.originator_version
        event_class = resolve_topic(stored_event.topic)
        fmt = raw[0]
        if fmt == _PLAIN:
            if _is_personal(event_class):  # only an outsider writes a personal event in clear
                raise TamperedEvent(
                    f"{_where(stored_event)}: personal event stored in clear, so not written by this service"
                )
            payload = raw[_HEADER:]
        elif fmt in (_SEALED, _SEALED_V1):
            key = key_of(subject_id)
            if key is None:
                return self._redacted(stored_event, subject_id)
            aad = _associated_data(fmt, raw[1:_HEADER], originator_id, version, stored_event.topic)
            try:
                payload = unseal(key, raw[_HEADER:], aad)
            except Tampered as e:
                raise TamperedEvent(f"{_where(stored_event)}: {e}") from None
        else:
            raise TamperedEvent(f"{_where(stored_event)}: unknown format {fmt}")
        try:
            shape = shapes.get(event_class) if shapes else None
            decoded: Any = msgspec.msgpack.decode(payload, type=shape or _state_type(event_class))
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


def _where(stored_event: StoredEvent) -> str:
    """A stored event named in an error. Built only for the error: formatting its UUID for every event a
    rebuild decodes was 2% of a mixed rebuild's samples (py-spy, docs/performance.md 2026-12-06)."""
    return f"stored event {stored_event.originator_id} v{stored_event.originator_version} ({stored_event.topic})"
