"""Access-log names of people: under their own key, remembered briefly, and never blocking on a missing key store."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from uuid import UUID

from application.api_access.people import UNAVAILABLE, UNKEYED, PersonHashes, person_hash
from application.errors import StorageError


class _Keys:
    """A key store of one person, whose key can be erased or the store taken away."""

    def __init__(self, person: UUID) -> None:
        self.person, self.subject, self.key = person, uuid.uuid4(), b"k" * 32
        self.reads, self.down = 0, False

    def subject_for(self, app_user_id: UUID, *, create: bool) -> UUID | None:
        self.reads += 1
        if self.down:
            raise StorageError("key store: connection refused")
        return self.subject if app_user_id == self.person else None

    def data_key(self, subject_id: UUID) -> bytes | None:
        return self.key if subject_id == self.subject else None

    def data_keys(self, subject_ids: Iterable[UUID]) -> dict[UUID, bytes]:
        return {self.subject: self.key} if self.subject in subject_ids else {}

    def subjects_for(self, app_user_ids: Iterable[UUID]) -> dict[UUID, UUID]:
        return {}

    def orphan_subject(self) -> UUID:
        return uuid.uuid4()

    def erase(self, subject_id: UUID) -> bool:
        self.key = None  # type: ignore[assignment]
        return True

    def count(self) -> int:
        return 1


def test_a_persons_hash_needs_their_key_and_is_remembered_for_a_minute_without_blocking_on_an_outage() -> None:
    person = uuid.uuid4()
    keys = _Keys(person)
    now = [0.0]
    hashes = PersonHashes(keys, ttl=60, clock=lambda: now[0])
    first = hashes(person)
    assert first.startswith("person:")
    assert first != f"person:{UNKEYED}"
    assert person_hash(keys, uuid.uuid4()) == f"person:{UNKEYED}"
    reads, keys.down = keys.reads, True
    assert hashes(person) == first  # remembered: no key-store read
    assert keys.reads == reads
    now[0] = 61.0
    assert hashes(person) == UNAVAILABLE  # the key store is away: the request is still answered
    keys.down = False
    keys.erase(keys.subject)
    assert hashes(person) == f"person:{UNKEYED}"  # erased: the hash can no longer be made


def test_a_remembered_hash_is_known_without_the_key_store_and_only_while_it_is_fresh() -> None:
    person = uuid.uuid4()
    keys = _Keys(person)
    now = [0.0]
    hashes = PersonHashes(keys, ttl=60, clock=lambda: now[0])
    assert hashes.known(person) is None  # never computed: the caller must read the key store (off the loop)
    hashed = hashes(person)
    reads = keys.reads
    assert hashes.known(person) == hashed
    assert keys.reads == reads
    now[0] = 60.0
    assert hashes.known(person) is None  # as old as the ttl: computed again
