"""Ports: what the use cases need from the outside world, as Protocols.

Adapters implement them for SQLite, PostgreSQL, the system clock and so on;
unit tests implement them with small fakes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

import msgspec
from eventsourcing.persistence import StoredEvent

__all__ = ["Clock", "IngestLedger", "IngestMarks", "KeyStore", "LateAppends", "SubjectKeys"]


class Clock(Protocol):
    """The time now, timezone-aware (UTC)."""

    def now(self) -> datetime: ...


class SubjectKeys(Protocol):
    """Per-subject data keys and the mapping from the app's user id to subject ids."""

    def subject_for(self, app_user_id: UUID, *, create: bool) -> UUID | None:
        """The subject of this app user; a new one with a new key when ``create``."""

    def subjects_for(self, app_user_ids: Iterable[UUID]) -> dict[UUID, UUID]:
        """The existing subjects of these app users (one lookup for a whole batch)."""

    def create_subjects(self, app_user_ids: Iterable[UUID]) -> dict[UUID, UUID]:
        """The subject of each of these app users, made with a new key where there is none (one transaction for
        all: a server-side batch may bring a thousand people seen for the first time)."""

    def orphan_subject(self) -> UUID:
        """A new subject with its own key that no app user id leads to."""

    def data_key(self, subject_id: UUID) -> bytes | None:
        """The subject's 256-bit key, or None once erased."""

    def data_keys(self, subject_ids: Iterable[UUID]) -> dict[UUID, bytes]:
        """The keys of several subjects, read at once; erased ones are absent."""

    def erase(self, subject_id: UUID) -> bool:
        """Destroy the key and the mapping to it; True if there was one."""

    def count(self) -> int:
        """How many subjects have a key."""


class KeyStore(SubjectKeys, Protocol):
    """The whole key store as the service's composition and its operators use it."""

    def derived_secret(self, purpose: bytes) -> bytes:
        """A secret for ``purpose`` under the newest root secret: kept by ``rotate_master``, replaced by
        ``rotate_root``."""

    def derived_secrets(self, purpose: bytes) -> list[bytes]:
        """``derived_secret(purpose)`` under every root, oldest first (keyed hashes step through them,
        application.rechain; the access log verifies each stretch of its chain with its own)."""

    @property
    def root_is_legacy(self) -> bool:
        """Whether the root secret is still the first master key (a store made before issue 13)."""

    def rotate_master(self, new_master_key: bytes) -> msgspec.Struct:
        """Rewrap every data key and the root secrets under ``new_master_key`` in one transaction; a report.

        Raises ValueError when the new key is the current one.
        """

    def rotate_root(self) -> int:
        """Add a new random root secret and step every lookup digest on to it, in one transaction; how many."""


class LateAppends(Protocol):
    """Events appended where their streams stand at commit, their versions read in the writing transaction.

    Ingest's session events: two processes append to the same sessions (batches
    of many people reach any serve worker), so a version read earlier could be
    taken by the other's commit. Read after the event store's write lock is
    taken (PostgreSQL's table lock, SQLite's write lock), it stays true until
    commit, so such appends never race.
    """

    @property
    def stream_ids(self) -> Sequence[UUID]:
        """The streams appended to."""

    def stored(self, versions: Sequence[int]) -> list[StoredEvent]:
        """The events as stored, given each stream's last version (in ``stream_ids``' order, 0 for none)."""


class IngestMarks(msgspec.Struct, frozen=True, kw_only=True):
    """Written in the same transaction as the events they describe.

    ``event_ids``: ids of stored events, so a resend is recognised.
    ``not_collected``: per (day, event name), how many events were dropped for
    lack of consent; counts only, never an identifier.
    ``appends``: events whose versions are read in the same transaction (see LateAppends).
    """

    event_ids: list[UUID]
    not_collected: dict[tuple[date, str], int]
    appends: LateAppends | None = None


class IngestLedger(Protocol):
    """The event store's record of what was ingested (implemented by our recorders)."""

    def known_event_ids(self, event_ids: Iterable[UUID]) -> set[UUID]: ...

    def last_versions(self, stream_ids: Sequence[UUID]) -> list[int]:
        """The last stored version of each stream, in the order asked, 0 for none (one query).

        Archived versions count: a session whose events were all moved to the archive goes on from there.
        The versions ``IngestMarks.appends`` are given are read the same way.
        """

    def events_after(self, versions: Mapping[UUID, int]) -> list[StoredEvent]:
        """The stored events of each stream after the given version, oldest first per stream (one query)."""

    def writing(self, *, alone: bool) -> AbstractContextManager[None]:
        """Held by an ingest write from reading stream versions to commit; ``alone``: no other ingest write meanwhile.

        Writes not alone run side by side (a phone's batch rarely meets another process on
        its streams). One alone waits for those and keeps the rest out, so what it read is
        still true at its commit: the way out when two processes write the same sessions.
        """

    def not_collected_total(self) -> int: ...
