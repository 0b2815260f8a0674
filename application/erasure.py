"""Use case: erase a person by destroying their key (crypto-shredding).

The ``User`` stream first gets an ``Erased`` record (no personal data in it,
so it stays readable as proof), then the key and the user-id mapping are
deleted together. From then on every event of the subject decrypts nowhere:
readers see redacted placeholders and the subject id links to no one.
"""

from __future__ import annotations

from uuid import UUID

import msgspec
from eventsourcing.application import AggregateNotFoundError

from application.ports import SubjectKeys
from application.store import AnalyticsStore
from domain.errors import DomainError
from domain.user import User

__all__ = ["Erasure", "ErasureReceipt", "UnknownUser"]


class UnknownUser(DomainError):
    """No data is held for this user id: never seen, never consented, or already erased."""


class ErasureReceipt(msgspec.Struct, frozen=True):
    subject_id: UUID
    key_destroyed: bool


class Erasure:
    def __init__(self, store: AnalyticsStore, keys: SubjectKeys) -> None:
        self._store = store
        self._keys = keys

    def erase(self, app_user_id: UUID, *, requested_by: str) -> ErasureReceipt:
        subject = self._keys.subject_for(app_user_id, create=False)
        if subject is None:
            raise UnknownUser(f"no data is held for user {app_user_id} (never seen, or already erased)")
        with self._store.write_lock:  # no ingest of this person's events meanwhile
            user: object
            try:
                user = self._store.repository.get(subject)
            except AggregateNotFoundError:
                user = None  # only a consent record exists: nothing to mark, the key still goes
            if isinstance(user, User) and not user.erased:
                user.erase(requested_by)
                self._store.save(user)
            destroyed = self._keys.erase(subject)
            self._store.forget_cached()  # no decrypted copy of this person stays in memory
        return ErasureReceipt(subject_id=subject, key_destroyed=destroyed)
