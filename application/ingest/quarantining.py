"""Where a rejected event is quarantined: kept with its reasons, under a key that erasure reaches.

``Ingestion.prepare`` turns each event that fails its checks into a
:class:`Quarantinable`; ``Ingestion.record`` hands each one to
:func:`quarantined` in the same transaction as the batch's accepted events.
Listing, showing and replaying what was kept is ``quarantine_book``.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from application.ingest.unit_of_work import UnitOfWork
from application.ports import SubjectKeys
from application.principals import Principal
from domain.errors import FieldError
from domain.quarantine import QuarantinedEvent

__all__ = ["OrphanKey", "Quarantinable", "identifiers_of", "quarantined", "rejected_from"]


class Quarantinable(msgspec.Struct, frozen=True, kw_only=True):
    """A rejected event as received, to be kept in quarantine with its reasons.

    ``app_user_id`` is whose data it is: the person it names, or, when its
    sender may not speak for that person, the sender (``about_someone_else``).
    """

    raw: bytes
    errors: list[FieldError]
    app_user_id: UUID | None
    is_consent_update: bool
    about_someone_else: bool = False


def rejected_from(sender: Principal, raw: bytes, errors: list[FieldError]) -> tuple[str | None, Quarantinable]:
    """(event_id as sent, the rejected event to keep): what a sender sent about someone else stays the sender's.

    A ``user`` token sending ``user_id = B`` writes nothing into B's records: B
    did not send it, so it is kept under the sender's own key (or one linked to
    no one), never where B's export, history or erasure would find it.
    """
    event_id, user_id, is_consent_update = identifiers_of(raw)
    if user_id is None or sender.may_send_for(user_id):
        return event_id, Quarantinable(raw=raw, errors=errors, app_user_id=user_id, is_consent_update=is_consent_update)
    owner = sender.subject_uuid() if sender.role == "user" else None
    return event_id, Quarantinable(
        raw=raw, errors=errors, app_user_id=owner, is_consent_update=False, about_someone_else=True
    )


class OrphanKey:
    """One key linked to no one, shared by the orphan entries of one request, made when first needed.

    A key per entry would let one request of 1,000 broken events add 1,000
    key-store rows; shared, it adds one, and erasing nobody loses nothing.
    """

    __slots__ = ("_keys", "_subject")

    def __init__(self, keys: SubjectKeys) -> None:
        self._keys = keys
        self._subject: UUID | None = None

    def subject(self) -> UUID:
        if self._subject is None:
            self._subject = self._keys.orphan_subject()
        return self._subject


class _Identifiers(msgspec.Struct):
    """What can be read of a rejected event: its ids, if they are where they belong."""

    event_id: object = None
    user_id: object = None
    event_name: object = None


def identifiers_of(raw: bytes) -> tuple[str | None, UUID | None, bool]:
    """(event_id as sent, user_id if it is a UUID, whether it claims to be a consent update)."""
    try:
        found = msgspec.json.decode(raw, type=_Identifiers)
    except (msgspec.MsgspecError, UnicodeDecodeError):
        return None, None, False
    event_id = found.event_id if isinstance(found.event_id, str) else None
    try:
        user_id = UUID(found.user_id) if isinstance(found.user_id, str) else None
    except ValueError:
        user_id = None
    return event_id, user_id, found.event_name == "user_consent_update"


def quarantined(
    item: Quarantinable,
    unit: UnitOfWork,
    orphan: OrphanKey,
    *,
    source: str,
    sender: Principal | None,
    received_at: datetime,
    sent_at: datetime | None,
) -> QuarantinedEvent:
    """Keep a rejected event: under its person's key when collecting from them is allowed.

    A person's rejected event is data about them: it is kept with its bytes
    only where a valid one would be (analytics consent, or a consent update,
    which is always recorded), encrypted under their key so erasure reaches
    it. Otherwise only the reasons are kept, under the request's key that
    links to no one. An event whose user id cannot be read is kept whole
    under such a key: nobody can be asked, and nobody can be linked. An event
    about someone else is never kept whole there: its bytes name that person.
    """
    subject = unit.subject_of(item.app_user_id) if item.app_user_id else None
    may_keep = subject is not None and (item.is_consent_update or unit.consent(subject).allows("analytics"))
    if subject is None or not may_keep:
        subject = orphan.subject()
    keep_bytes = may_keep or (item.app_user_id is None and not item.about_someone_else)
    # Under a key of its own, nothing may name a person: a 'user' token's subject is
    # the app's user id, so it is kept only where erasure reaches it (the person's key).
    sender_name = sender.subject if sender and (may_keep or sender.role in ("service", "write_key")) else ""
    return QuarantinedEvent.keep(
        subject_id=subject,
        source=source,
        sender=sender_name,
        sender_role=sender.role if sender else "",
        received_at=received_at,
        sent_at=sent_at,
        reasons=item.errors,
        raw=item.raw if keep_bytes else None,
    )
