"""Use case: a person's consent, read and changed through the API, with its full history (GDPR Art. 7).

A change through the API is recorded on the same ``Consent`` stream as the
app's ``user_consent_update`` events, with its source (``api``) and who made
it (the person, or an admin), and takes effect for every event processed
after it — including events the app queued offline before it and sends later.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from application.errors import NotFound
from application.ports import Clock, SubjectKeys
from application.privacy.erasure import ActiveSubjects
from application.store import AnalyticsStore
from domain.consent import Consent, ConsentChoice

__all__ = ["ConsentBook", "ConsentState"]


class ConsentState(msgspec.Struct, frozen=True, kw_only=True):
    choice: ConsentChoice
    updated_at: datetime | None


class ConsentBook:
    def __init__(self, store: AnalyticsStore, keys: SubjectKeys, readers: ActiveSubjects, clock: Clock) -> None:
        self._store = store
        self._keys = keys
        self._readers = readers  # None for erased people: they are not found, and nothing is recorded
        self._clock = clock

    def current(self, app_user_id: UUID) -> ConsentState:
        consent = self._consent(self._subject(app_user_id))
        if consent is None:
            return ConsentState(choice=ConsentChoice(), updated_at=None)
        last = consent.history[-1].effective_at if consent.history else None
        return ConsentState(choice=consent.choice, updated_at=last)

    def history(self, app_user_id: UUID) -> list[dict[str, Any]]:
        consent = self._consent(self._subject(app_user_id))
        if consent is None:
            return []
        return [
            {
                "choice": msgspec.to_builtins(change.choice),
                "effective_at": change.effective_at.isoformat(),
                "recorded_at": change.timestamp.isoformat(),
                "source": change.source,
                "changed_by": change.changed_by,
            }
            for change in consent.history
        ]

    def change(self, app_user_id: UUID, choice: ConsentChoice, *, changed_by: str, source: str = "api") -> ConsentState:
        """Record a new choice (every purpose given), made through ``source`` (``api``, or ``dashboard`` for the
        person's /me page); the person's record is made if there is none."""
        if self._readers.erased(app_user_id):
            raise NotFound("no data is held for this user (erased); nothing is recorded for them again")
        with self._store.write_lock:
            subject = self._keys.subject_for(app_user_id, create=True)
            assert subject is not None
            consent = self._consent(subject) or Consent.start(subject)
            consent.change(choice, effective_at=self._clock.now(), source=source, changed_by=changed_by)
            self._store.save(consent)
        return ConsentState(choice=choice, updated_at=self._clock.now())

    def _subject(self, app_user_id: UUID) -> UUID:
        subject = self._readers.subject_for(app_user_id)
        if subject is None:
            raise NotFound("no data is held for this user (never seen, or erased)")
        return subject

    def _consent(self, subject: UUID) -> Consent | None:
        return self._store.find(Consent.create_id(subject), Consent)
