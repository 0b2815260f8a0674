"""Subject keys, whatever the database: wrapping under the master key, a cache, the root secret, rotation.

Each subject's data key is stored wrapped (AES-GCM) by the master key, beside
the user-id mapping; ``CachingKeyStore`` wraps and unwraps, caches unwrapped
keys for a short while, and answers the ``SubjectKeys`` port. The key stores
(adapters.encryption.keystore) run its SQL on SQLite or PostgreSQL.

The master key also wraps one *root secret*, kept in a one-row meta table. The
lookup digests and ``derived_secret`` are keyed by the root, not by the master
key, so ``rotate_master`` can replace the master key without breaking lookups:
the app's user ids are never stored, so their digests could not be computed
again. A store made before rotation existed keyed its digests by the master key
itself, so that key became its root; new stores start the same way. Opening the
wrapped root at start is the key check: with a wrong master key, AES-GCM fails
there, before any data key is read.
"""

from __future__ import annotations

import hmac
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Final
from uuid import UUID

import msgspec

from adapters.encryption.envelope import KEY_BYTES, Tampered, derive, lookup_hash, new_data_key, seal, unseal
from application.errors import StorageError

__all__ = ["KEY_CACHE_SECONDS", "REWRAP_PAGE", "CachingKeyStore", "MasterKeyMismatch", "Rewrap", "RotationReport"]

_WRAP_CONTEXT: Final = b"addvalue/data-key/v1:"
_ROOT_CONTEXT: Final = b"addvalue/root-secret/v1"
REWRAP_PAGE: Final = 2_000  # keys rewrapped per statement during a rotation
KEY_CACHE_SECONDS: Final = 30.0
KEY_CACHE_SIZE: Final = 200_000
_MISMATCH: Final = (
    "the master key does not match this key store: ADDVALUE_MASTER_KEY must be the key the store was created "
    "with or, after `addvalue keys rotate-master`, the new key (ADDVALUE_NEW_MASTER_KEY of that run)"
)
_ROTATED: Final = (
    "the master key of this key store was rotated after this process started: "
    "set ADDVALUE_MASTER_KEY to the new key and restart"
)

Rewrap = Callable[[UUID, bytes], bytes]


class MasterKeyMismatch(StorageError):
    """The configured master key does not open this key store (wrong key, or rotated since start)."""


class RotationReport(msgspec.Struct, frozen=True, kw_only=True):
    """What ``rotate_master`` did: how many data keys it rewrapped, in how many seconds (one transaction)."""

    keys_rewrapped: int
    seconds: float


def _check_master(key: bytes) -> None:
    if len(key) != KEY_BYTES:
        raise ValueError(f"a master key is {KEY_BYTES} bytes, got {len(key)}")


def _opens(key: bytes, sealed: bytes, associated_data: bytes) -> bool:
    try:
        unseal(key, sealed, associated_data)
    except Tampered:
        return False
    return True


def _open_root(master_key: bytes, wrapped_root: bytes) -> bytes:
    try:
        return unseal(master_key, wrapped_root, _ROOT_CONTEXT)
    except Tampered:
        raise MasterKeyMismatch(_MISMATCH) from None


class CachingKeyStore:
    """Wrapping, caching, rotation and the use cases' API; subclasses run the SQL."""

    def __init__(self, master_key: bytes, *, cache_seconds: float = KEY_CACHE_SECONDS) -> None:
        _check_master(master_key)
        self._master = master_key
        self._root = b""
        # The wrapped root as stored. Every rotation changes it (a fresh nonce), so an
        # insert that finds it unchanged knows its master key is still the current one.
        self._generation = b""
        self._store_id = ""  # see fingerprint
        # Unwrapped keys, each with the time it was read. An erasure by another
        # process reaches this one within cache_seconds; by this process, at once.
        self._cache: dict[UUID, tuple[bytes, float]] = {}
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()

    def _open(self) -> None:
        """Open the root secret, creating it for a store without one; a wrong master key fails here."""
        wrapped = self._read_root()
        if wrapped is None:
            first = self._first_key()
            if first is not None and not _opens(self._master, first[1], _WRAP_CONTEXT + first[0].bytes):
                raise MasterKeyMismatch(_MISMATCH)  # else this wrong key would become the root for good
            wrapped = self._init_root(seal(self._master, self._master, _ROOT_CONTEXT))
        self._root, self._generation = _open_root(self._master, wrapped), wrapped
        self._store_id = self._init_store_id(os.urandom(8).hex())

    # -- SubjectKeys port --------------------------------------------------
    def subject_for(self, app_user_id: UUID, *, create: bool) -> UUID | None:
        digest = lookup_hash(self._root, app_user_id.bytes)
        found = self._find_subject(digest)
        if found is not None or not create:
            return found
        subject_id, key = uuid.uuid4(), new_data_key()
        return self._insert_current(digest, subject_id, key)

    def subjects_for(self, app_user_ids: Iterable[UUID]) -> dict[UUID, UUID]:
        by_digest = {lookup_hash(self._root, u.bytes): u for u in set(app_user_ids)}
        found = self._find_subjects(list(by_digest))
        return {by_digest[digest]: subject for digest, subject in found.items()}

    def orphan_subject(self) -> UUID:
        # A random lookup hash: no user id hashes to it, so nothing links to this subject.
        return self._insert_current(os.urandom(32), uuid.uuid4(), new_data_key())

    def data_key(self, subject_id: UUID) -> bytes | None:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(subject_id)
        if cached is not None and now - cached[1] < self._cache_seconds:
            return cached[0]
        wrapped = self._find_wrapped(subject_id)
        if wrapped is None:
            with self._lock:
                self._cache.pop(subject_id, None)
            return None
        key = self._unwrap(subject_id, wrapped)
        with self._lock:
            if len(self._cache) >= KEY_CACHE_SIZE:
                self._cache.clear()  # bounded; refilled on demand
            self._cache[subject_id] = (key, now)
        return key

    def data_keys(self, subject_ids: Iterable[UUID]) -> dict[UUID, bytes]:
        """The keys of several subjects (erased ones absent): those not fresh in the cache read in one query.

        A rebuild decodes a page of events of up to a thousand people; asking
        one key at a time cost a round trip each (most of a rebuild's time when
        every stored event is another person's).
        """
        now, found, missing = time.monotonic(), {}, []
        with self._lock:
            for subject_id in set(subject_ids):
                cached = self._cache.get(subject_id)
                if cached is not None and now - cached[1] < self._cache_seconds:
                    found[subject_id] = cached[0]
                else:
                    missing.append(subject_id)
        if not missing:
            return found
        fresh = {s: self._unwrap(s, wrapped) for s, wrapped in self._find_wrapped_many(missing).items()}
        with self._lock:
            for subject_id in missing:
                self._cache.pop(subject_id, None)
            if len(self._cache) + len(fresh) >= KEY_CACHE_SIZE:
                self._cache.clear()  # bounded; refilled on demand
            self._cache.update((s, (key, now)) for s, key in fresh.items())
        return found | fresh

    def erase(self, subject_id: UUID) -> bool:
        with self._lock:
            self._cache.pop(subject_id, None)
        return self._delete(subject_id)

    def count(self) -> int:
        return self._count()

    # -- root secret and rotation --------------------------------------------
    def derived_secret(self, purpose: bytes) -> bytes:
        """A 32-byte key for one purpose, ``HMAC-SHA256(root secret, purpose)``: the same across rotations.

        For a store made before rotation existed (and a new one) the root is the
        first master key, so this equals ``HMAC-SHA256(master key, purpose)``.
        Give each use its own ``purpose``.
        """
        return derive(self._root, purpose)

    @property
    def fingerprint(self) -> str:
        """Which key store this is, safe to print and to record in a backup's manifest.

        A random id the store gets when first opened: the same across master-key
        rotations, different for every other store (a new one made with the same
        master key included, whose root secret would be the same).
        """
        return "ks-" + self._store_id

    def rotate_master(self, new_master_key: bytes) -> RotationReport:
        """Rewrap every data key and the root secret under ``new_master_key``, in one transaction.

        Writers wait meanwhile; readers go on. Lookups, derived secrets and cached
        keys do not change. From then on only the new key opens this store: a
        process started with the old one fails at start (``MasterKeyMismatch``).
        """
        _check_master(new_master_key)
        if hmac.compare_digest(new_master_key, self._master):
            raise ValueError("the new master key is the current one: generate a new one")
        started, old = time.monotonic(), self._master

        def rewrap(subject_id: UUID, wrapped: bytes) -> bytes:
            return seal(new_master_key, self._unwrap(subject_id, wrapped), _WRAP_CONTEXT + subject_id.bytes)

        def rewrap_root(wrapped: bytes) -> bytes:
            return seal(new_master_key, _open_root(old, wrapped), _ROOT_CONTEXT)

        count, generation = self._rewrap_all(rewrap, rewrap_root)
        with self._lock:
            self._master, self._generation = new_master_key, generation
        return RotationReport(keys_rewrapped=count, seconds=round(time.monotonic() - started, 3))

    # -- wrapping ------------------------------------------------------------
    def _insert_current(self, digest: bytes, subject_id: UUID, key: bytes) -> UUID:
        wrapped = seal(self._master, key, _WRAP_CONTEXT + subject_id.bytes)
        stored = self._insert(digest, subject_id, wrapped, self._generation)
        if stored is None:  # refused: a key wrapped by a retired master key would be lost with it
            raise MasterKeyMismatch(_ROTATED)
        return stored

    def _unwrap(self, subject_id: UUID, wrapped: bytes) -> bytes:
        try:
            return unseal(self._master, wrapped, _WRAP_CONTEXT + subject_id.bytes)
        except Tampered:
            raise StorageError(
                f"the data key of subject {subject_id} does not open with this master key: "
                "ADDVALUE_MASTER_KEY differs from the one the keys were written or last rotated with "
                "(after a rotation, restart with the new key), or the row was altered"
            ) from None

    # -- SQL, per database -----------------------------------------------------
    def _read_root(self) -> bytes | None:
        raise NotImplementedError

    def _first_key(self) -> tuple[UUID, bytes] | None:
        raise NotImplementedError

    def _init_root(self, wrapped_root: bytes) -> bytes:
        """Store ``wrapped_root`` unless a root is stored already; the one stored."""
        raise NotImplementedError

    def _init_store_id(self, candidate: str) -> str:
        """Store ``candidate`` as this store's id unless it has one; the one stored."""
        raise NotImplementedError

    def _rewrap_all(self, rewrap: Rewrap, rewrap_root: Callable[[bytes], bytes]) -> tuple[int, bytes]:
        """In one transaction that keeps writers out: every key and the root; (keys, new wrapped root)."""
        raise NotImplementedError

    def _find_subject(self, digest: bytes) -> UUID | None:
        raise NotImplementedError

    def _find_subjects(self, digests: list[bytes]) -> dict[bytes, UUID]:
        raise NotImplementedError

    def _insert(self, digest: bytes, subject_id: UUID, wrapped: bytes, generation: bytes) -> UUID | None:
        """The subject stored for ``digest``; None if the stored root is no longer ``generation``."""
        raise NotImplementedError

    def _find_wrapped(self, subject_id: UUID) -> bytes | None:
        raise NotImplementedError

    def _find_wrapped_many(self, subject_ids: list[UUID]) -> dict[UUID, bytes]:
        raise NotImplementedError

    def _delete(self, subject_id: UUID) -> bool:
        raise NotImplementedError

    def _count(self) -> int:
        raise NotImplementedError
