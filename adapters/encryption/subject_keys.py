"""Subject keys, whatever the database: wrapping under the master key, a cache, the root secrets, rotation.

Each subject's data key is stored wrapped (AES-GCM) by the master key, beside
the user-id mapping; ``CachingKeyStore`` wraps and unwraps, caches unwrapped
keys for a short while, and answers the ``SubjectKeys`` port. The key stores
(adapters.encryption.keystore) run its SQL on SQLite or PostgreSQL.

The master key also wraps the *root secrets*, kept in a one-row meta table: a
random 32-byte root made with the store, and one more for every ``rotate_root``
(oldest first). The lookup digests and ``derived_secret`` are keyed by the
roots, never by the master key, so that ``rotate_master`` leaves the retired
master key nothing to open or to forge with. A lookup digest is computed under
the first root and stepped through each later one (application.rechain):
``rotate_root`` steps every stored digest once more, so the retired root alone
matches nothing. Secrets (the access log's HMAC key) come from the newest root.

Stores made before issue 13 have one root, the first master key itself
(context ``addvalue/root-secret/v1``): still read as before, and reported by
``root_is_legacy`` until ``rotate_root`` moves them off it (docs/security.md,
Key hierarchy). Opening the wrapped roots at start is the key check: with a
wrong master key, AES-GCM fails there, before any data key is read.
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

from adapters.encryption.envelope import (
    KEY_BYTES,
    LOOKUP_PURPOSE,
    Tampered,
    derive,
    new_data_key,
    seal,
    unseal,
)
from application.errors import StorageError
from application.rechain import chained, rechain

__all__ = [
    "KEY_CACHE_SECONDS",
    "REWRAP_PAGE",
    "CachingKeyStore",
    "MasterKeyMismatch",
    "Rewrap",
    "RotationReport",
]

_WRAP_CONTEXT: Final = b"addvalue/data-key/v1:"
_ROOT_CONTEXT: Final = b"addvalue/root-secret/v1"  # before issue 13: one root, the first master key
_CHAIN_CONTEXT: Final = b"addvalue/root-chain/v2"  # random roots, 32 bytes each, oldest first
REWRAP_PAGE: Final = 2_000  # keys rewrapped per statement during a rotation
KEY_CACHE_SECONDS: Final = 30.0
KEY_CACHE_SIZE: Final = 200_000
_NEVER: Final = (b"", float("-inf"))
_MISMATCH: Final = (
    "the master key does not match this key store: ADDVALUE_MASTER_KEY must be the key the store was created "
    "with or, after `addvalue keys rotate-master`, the new key (ADDVALUE_NEW_MASTER_KEY of that run)"
)
_ROTATED: Final = (
    "the master key or the root secret of this key store was rotated after this process started: "
    "restart (after `addvalue keys rotate-master`, with ADDVALUE_MASTER_KEY set to the new key)"
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


def _open_roots(master_key: bytes, wrapped: bytes) -> tuple[list[bytes], bytes]:
    """The roots, oldest first, and the context they are wrapped under (the legacy one or the chain's)."""
    for context in (_CHAIN_CONTEXT, _ROOT_CONTEXT):
        try:
            plain = unseal(master_key, wrapped, context)
        except Tampered:
            continue
        return [plain[i : i + KEY_BYTES] for i in range(0, len(plain), KEY_BYTES)], context
    raise MasterKeyMismatch(_MISMATCH)


class CachingKeyStore:
    """Wrapping, caching, rotation and the use cases' API; subclasses run the SQL."""

    def __init__(self, master_key: bytes, *, cache_seconds: float = KEY_CACHE_SECONDS) -> None:
        _check_master(master_key)
        self._master = master_key
        self._roots: list[bytes] = []
        # The lookup keys of the roots, derived once per generation (per person and batch, deriving them was
        # an HMAC more per root): the first root's, and the later ones' rechain steps.
        self._lookup_keys: tuple[bytes, list[bytes]] = (b"", [])
        self._legacy = False
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
            if first is None:
                initial = seal(self._master, new_data_key(), _CHAIN_CONTEXT)  # independent of every master key
            elif _opens(self._master, first[1], _WRAP_CONTEXT + first[0].bytes):
                # Made before the root secret: its digests are keyed by this master key, which stays its root
                # (legacy) until `addvalue keys rotate-root`.
                initial = seal(self._master, self._master, _ROOT_CONTEXT)
            else:
                raise MasterKeyMismatch(_MISMATCH)  # else this wrong key would become the root for good
            wrapped = self._init_root(initial)
        self._use_roots(wrapped)
        self._store_id = self._init_store_id(os.urandom(8).hex())

    def _use_roots(self, wrapped: bytes) -> None:
        roots, context = _open_roots(self._master, wrapped)
        with self._lock:
            self._roots, self._legacy, self._generation = roots, context == _ROOT_CONTEXT, wrapped
            self._lookup_keys = (derive(roots[0], LOOKUP_PURPOSE), [derive(r, LOOKUP_PURPOSE) for r in roots[1:]])

    def _lookup(self, app_user_id: UUID) -> bytes:
        """Keyed hash of the app's user id, so the key store never holds the id in clear: HMAC-SHA256 under the
        lookup key of the first root secret, which survives master-key rotations (the id is never stored, so a
        digest could not be computed again), then stepped on through each later root (application.rechain)."""
        first, later = self._lookup_keys  # one read: a rotation swaps the pair whole
        return chained(later, hmac.digest(first, app_user_id.bytes, "sha256"))

    # -- SubjectKeys port --------------------------------------------------
    def subject_for(self, app_user_id: UUID, *, create: bool) -> UUID | None:
        digest = self._lookup(app_user_id)
        found = self._find_subject(digest)
        if found is not None or not create:
            return found
        subject_id, key = uuid.uuid4(), new_data_key()
        return self._insert_current(digest, subject_id, key)

    def subjects_for(self, app_user_ids: Iterable[UUID]) -> dict[UUID, UUID]:
        by_digest = {self._lookup(u): u for u in set(app_user_ids)}
        found = self._find_subjects(list(by_digest))
        # The same rows hold the data keys: refreshing them here saves the write that follows one key
        # query per person (a batch of many people would otherwise ask for each in turn). Those past half
        # their cache time are refreshed too, so that none expires while that write runs.
        now, renew_after = time.monotonic(), self._cache_seconds / 2
        with self._lock:
            stale = [(s, w) for s, w in found.values() if now - self._cache.get(s, _NEVER)[1] >= renew_after]
        fresh = [(subject, self._unwrap(subject, wrapped)) for subject, wrapped in stale]
        with self._lock:
            if len(self._cache) + len(fresh) > KEY_CACHE_SIZE:
                self._cache.clear()  # bounded; refilled on demand
            self._cache.update((subject, (key, now)) for subject, key in fresh)
        return {by_digest[digest]: subject for digest, (subject, _) in found.items()}

    def create_subjects(self, app_user_ids: Iterable[UUID]) -> dict[UUID, UUID]:
        # One transaction for all: one commit (an fsync) per new person made the first batch of a server-side
        # source with a thousand new people cost about a second (bench/ingest.py --users 1000000).
        by_digest = {self._lookup(u): u for u in set(app_user_ids)}
        if not by_digest:
            return {}
        made = {digest: (uuid.uuid4(), new_data_key()) for digest in by_digest}
        rows = [(d, s, seal(self._master, key, _WRAP_CONTEXT + s.bytes)) for d, (s, key) in made.items()]
        stored = self._insert_many(rows, self._generation)
        if len(stored) < len(by_digest):  # refused: a key wrapped by a retired master key would be lost with it
            raise MasterKeyMismatch(_ROTATED)
        now = time.monotonic()
        with self._lock:  # the keys just made are needed at once, to encrypt these people's first events
            if len(self._cache) + len(stored) > KEY_CACHE_SIZE:
                self._cache.clear()  # bounded; refilled on demand
            self._cache.update((s, (made[d][1], now)) for d, s in stored.items() if s == made[d][0])
        return {by_digest[digest]: subject for digest, subject in stored.items()}

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
        """A 32-byte key for one purpose, ``HMAC-SHA256(newest root, purpose)``: kept by ``rotate_master``,
        replaced by ``rotate_root``. Give each use its own ``purpose``.

        For a store made before issue 13 (legacy) the root is the first master
        key, so this equals ``HMAC-SHA256(first master key, purpose)``.
        """
        return derive(self._roots[-1], purpose)

    def derived_secrets(self, purpose: bytes) -> list[bytes]:
        """``derived_secret(purpose)`` under every root, oldest first: to step keyed hashes through them."""
        return [derive(root, purpose) for root in self._roots]

    @property
    def root_is_legacy(self) -> bool:
        """Whether the root is still the first master key (a store made before issue 13)."""
        return self._legacy

    @property
    def fingerprint(self) -> str:
        """Which key store this is, safe to print and to record in a backup's manifest.

        A random id the store gets when first opened: the same across master-key
        and root rotations, different for every other store (a new one made with
        the same master key included).
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
            roots, context = _open_roots(old, wrapped)  # the legacy context stays until rotate_root
            return seal(new_master_key, b"".join(roots), context)

        count, generation = self._rewrite_all("wrapped_key", rewrap, rewrap_root)
        with self._lock:
            self._master, self._generation = new_master_key, generation
        return RotationReport(keys_rewrapped=count, seconds=round(time.monotonic() - started, 3))

    def rotate_root(self) -> int:
        """Add a new random root and step every lookup digest on to it, in one transaction (writers wait).

        Only the key store: the erasure register and the access log follow
        (application.key_rotation runs the whole of ``addvalue keys rotate-root``). How many lookups were stepped.
        Other processes must restart: their inserts are refused meanwhile.
        """
        new_root = new_data_key()
        step = derive(new_root, LOOKUP_PURPOSE)

        def add_root(wrapped: bytes) -> bytes:
            roots, _ = _open_roots(self._master, wrapped)
            return seal(self._master, b"".join([*roots, new_root]), _CHAIN_CONTEXT)

        count, generation = self._rewrite_all("lookup_hash", lambda _, digest: rechain(step, digest), add_root)
        self._use_roots(generation)
        return count

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

    def _rewrite_all(self, column: str, rewrite: Rewrap, rewrite_root: Callable[[bytes], bytes]) -> tuple[int, bytes]:
        """In one transaction that keeps writers out: ``column`` (wrapped_key or lookup_hash) of every row, and the
        wrapped roots; (rows, new wrapped roots)."""
        raise NotImplementedError

    def _find_subject(self, digest: bytes) -> UUID | None:
        raise NotImplementedError

    def _insert_many(self, rows: list[tuple[bytes, UUID, bytes]], generation: bytes) -> dict[bytes, UUID]:
        """In one transaction, each (lookup hash, subject, wrapped key) unless its hash is stored already, and only
        while ``generation`` is the stored root; the subject stored for each hash (none when refused)."""
        raise NotImplementedError

    def _find_subjects(self, digests: list[bytes]) -> dict[bytes, tuple[UUID, bytes]]:
        """Per digest found: the subject and its wrapped data key."""
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
