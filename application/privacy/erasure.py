"""Use case: erase a person — at once from every use, and after a grace period by destroying their key.

Asking (``request``) does at once what must not wait: the person is put in the
erasure register, so nothing of theirs is collected again and no API answer,
export or history lookup finds them; their ``User`` stream gets an ``Erased``
record (no personal data in it, so it stays readable as proof) and every
projection deletes their per-person rows when it reads it. The register keeps,
for good, only a keyed hash of their user id: enough to recognise events that
arrive later from offline queues and retries, nothing to say who they were.

After the grace period (default 30 days; 0 with ``--now``) the scheduled job
``erasure-due`` (``complete_due``) destroys the key and the id mapping, so
nothing the person ever sent can be decrypted again (crypto-shredding). Other
processes keep an unwrapped key in memory for at most 30 s (the key cache).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import msgspec

from application.due_now import DueNowJob
from application.ports import Clock, SubjectKeys
from application.privacy.ports import ErasureRegister
from application.store import AnalyticsStore
from domain.errors import DomainError
from domain.periods import Cadence
from domain.user import User

__all__ = [
    "DEFAULT_GRACE",
    "ActiveSubjects",
    "Erasure",
    "ErasureDue",
    "ErasureNotDone",
    "ErasureReceipt",
    "UnknownUser",
]

DEFAULT_GRACE = timedelta(days=30)


class UnknownUser(DomainError):
    """No data is held for this user id: never seen, never consented, or already erased."""


class ErasureNotDone(DomainError):
    """An erasure asked to happen now did not: the person's key still exists (nothing was shredded)."""


class ErasureReceipt(msgspec.Struct, frozen=True, kw_only=True):
    """What was done, for the person and the auditors; no personal data (the subject id is pseudonymous)."""

    subject_id: UUID | None
    requested_at: datetime
    key_destroyed_by: datetime
    key_destroyed: bool
    done: tuple[str, ...]


class ActiveSubjects:
    """The subject of an app user for reading (API, export, history): None once they asked to be erased."""

    def __init__(self, keys: SubjectKeys, register: ErasureRegister) -> None:
        self._keys = keys
        self._register = register

    def subject_for(self, app_user_id: UUID, *, create: bool = False) -> UUID | None:
        assert not create, "reading never creates a subject"
        if self.erased(app_user_id):
            return None
        return self._keys.subject_for(app_user_id, create=False)

    def erased(self, app_user_id: UUID) -> bool:
        """Asked to be erased (pending or done)."""
        return bool(self._register.blocked([app_user_id]))


class Erasure:
    def __init__(
        self,
        store: AnalyticsStore,
        keys: SubjectKeys,
        register: ErasureRegister,
        clock: Clock,
        *,
        grace: timedelta = DEFAULT_GRACE,
    ) -> None:
        self._store = store
        self._keys = keys
        self._register = register
        self._clock = clock
        self.grace = grace

    def erase(self, app_user_id: UUID, *, requested_by: str) -> ErasureReceipt:
        """Erase at once, key included (``addvalue erase``, ``users erase --now``)."""
        return self.request(app_user_id, requested_by=requested_by, grace=timedelta(0))

    def request(self, app_user_id: UUID, *, requested_by: str, grace: timedelta | None = None) -> ErasureReceipt:
        """Stop using the person now; destroy their key after ``grace`` (default: the configured period).

        A grace of 0 destroys the key now even when an earlier request is still in its grace period
        (an admin's "erase now" on top of the person's own request); if the key survives that,
        :class:`ErasureNotDone` is raised rather than a receipt that could be read as done.
        """
        now = self._clock.now()
        grace = self.grace if grace is None else grace
        entry = self._register.find(app_user_id)
        subject = self._keys.subject_for(app_user_id, create=False)
        if subject is None:
            if entry is not None:  # asked before: the same receipt again
                return self._receipt(entry.subject_id, entry.requested_at, entry.due_at, destroyed=True)
            raise UnknownUser(f"no data is held for user {app_user_id} (never seen, or already erased)")
        with self._store.write_lock:  # no ingest of this person's events meanwhile
            entry = self._register.add(app_user_id, subject, now, now + grace)
            user = self._store.find(subject, User)  # None when only a consent record exists: the key still goes
            if user is not None and not user.erased:
                user.erase(requested_by)
                self._store.save(user)
            self._store.forget_cached()  # no decrypted copy of this person stays in memory
        if grace > timedelta(0) and entry.due_at > now:
            return self._receipt(subject, entry.requested_at, entry.due_at, destroyed=False)
        if not self._destroy(subject, now):
            raise ErasureNotDone(f"the data key of subject {subject} still exists: the erasure did not happen")
        return self._receipt(subject, entry.requested_at, min(entry.due_at, now), destroyed=True)

    def complete_due(self) -> int:
        """Destroy the keys of every erasure whose grace period is over (the ``erasure-due`` job)."""
        now = self._clock.now()
        return sum(self._destroy(subject, now) for subject in self._register.due(now))

    def _destroy(self, subject: UUID, now: datetime) -> bool:
        """Destroy the key; False (the register left pending, for the job to retry) if it still exists after."""
        with self._store.write_lock:
            self._keys.erase(subject)
            self._store.forget_cached()
        if self._keys.data_key(subject) is not None:
            return False
        self._register.complete(subject, now)
        return True

    @staticmethod
    def _receipt(subject: UUID | None, requested_at: datetime, due_at: datetime, *, destroyed: bool) -> ErasureReceipt:
        done = [
            "collection stopped: events of this user id are no longer stored",
            "removed from every per-person read model, API answer, export and history lookup",
        ]
        if destroyed or due_at <= requested_at:
            done.append("data key and id mapping destroyed: nothing this user sent can be decrypted")
        else:
            done.append(f"data key and id mapping will be destroyed at {due_at.isoformat()}")
        return ErasureReceipt(
            subject_id=subject,
            requested_at=requested_at,
            key_destroyed_by=due_at,
            key_destroyed=destroyed,
            done=tuple(done),
        )


class ErasureDue(DueNowJob):
    """Hourly, at :10: destroy the keys of erasures whose grace period is over; built on ``Erasure.complete_due``."""

    name = "erasure-due"
    schedule = "10 * * * *"
    cadence: Cadence = "hour"
    description = "destroy the data keys and id mappings of people whose erasure grace period is over"
