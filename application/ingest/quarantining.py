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

__all__ = ["Quarantinable", "identifiers_of", "quarantined"]


class Quarantinable(msgspec.Struct, frozen=True, kw_only=True):
    """A rejected event as received, to be kept in quarantine with its reasons."""

    raw: bytes
    errors: list[FieldError]
    app_user_id: UUID | None
    is_consent_update: bool


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
    keys: SubjectKeys,
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
    it. Otherwise only the reasons are kept, under a key of its own that
    links to no one. An event whose user id cannot be read is kept whole
    under such a key: nobody can be asked, and nobody can be linked.
    """
    subject = unit.subject_of(item.app_user_id) if item.app_user_id else None
    may_keep = subject is not None and (item.is_consent_update or unit.consent(subject).allows("analytics"))
    if subject is None or not may_keep:
        subject = keys.orphan_subject()
    keep_bytes = may_keep or item.app_user_id is None
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
