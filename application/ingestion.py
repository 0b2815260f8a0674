"""Use case: take a batch of app events and store what the catalog and consent allow.

Per event, in batch order: validate against the catalog, check the sender may
speak for the user, place it in time, drop duplicates, apply consent, then
record it on its aggregates. One ``save`` writes the whole batch, with the
ledger of stored ids, in one transaction: a 2xx means it is committed.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime
from uuid import UUID

import msgspec
from eventsourcing.persistence import IntegrityError

from application.ports import Clock, IngestMarks, SubjectKeys
from application.principals import Principal
from application.store import AnalyticsStore
from application.unit_of_work import BatchAggregates
from domain.catalog import CatalogEvent, UserConsentUpdate, UserProfileUpdate, UserSignup
from domain.consent import ConsentChoice
from domain.errors import EventRejected, FieldError
from domain.timing import Timing, place_in_time
from domain.validation import decode_event

__all__ = ["IngestReport", "Ingestion", "Rejection"]

_RETRIES = 3


class Rejection(msgspec.Struct, frozen=True):
    index: int
    event_id: str | None
    errors: list[FieldError]


class IngestReport(msgspec.Struct, frozen=True, kw_only=True):
    accepted: int
    duplicates: int
    rejected: list[Rejection]
    not_collected: int


class _EventIdOnly(msgspec.Struct):
    event_id: object = None


def _event_id_of(raw: bytes) -> str | None:
    try:
        found = msgspec.json.decode(raw, type=_EventIdOnly).event_id
    except (msgspec.MsgspecError, UnicodeDecodeError):
        return None
    return found if isinstance(found, str) else None


class Ingestion:
    def __init__(self, store: AnalyticsStore, keys: SubjectKeys, clock: Clock) -> None:
        self._store = store
        self._keys = keys
        self._clock = clock
        # One writer per process: the batch's reads and its save must not interleave
        # with another batch's, or the same event id could pass the check twice.
        self._write_lock = threading.Lock()

    def ingest(self, raw_events: Sequence[bytes], *, sent_at: datetime | None, principal: Principal) -> IngestReport:
        received_at = self._clock.now()
        valid: list[tuple[CatalogEvent, Timing]] = []
        rejected: list[Rejection] = []
        for index, raw in enumerate(raw_events):
            try:
                event = decode_event(raw)
                self._authorize(principal, event)
                valid.append((event, place_in_time(event.timestamp, received_at=received_at, sent_at=sent_at)))
            except EventRejected as e:
                rejected.append(Rejection(index, _event_id_of(raw), e.errors))
        with self._write_lock:
            for attempt in range(_RETRIES):
                try:
                    accepted, duplicates, not_collected = self._record(valid, received_at)
                    break
                except IntegrityError:
                    # Another process wrote one of these streams or ids first: start over
                    # from what is now committed.
                    if attempt == _RETRIES - 1:
                        raise
        return IngestReport(accepted=accepted, duplicates=duplicates, rejected=rejected, not_collected=not_collected)

    @staticmethod
    def _authorize(principal: Principal, event: CatalogEvent) -> None:
        if not principal.may_send_for(str(event.user_id)):
            raise EventRejected(
                [FieldError("user_id", "must be the token's own subject (role 'user' sends only its own events)")]
            )

    def _record(self, valid: list[tuple[CatalogEvent, Timing]], received_at: datetime) -> tuple[int, int, int]:
        known = self._store.ledger.known_event_ids(e.event_id for e, _ in valid)
        batch = BatchAggregates(self._store, self._keys.subjects_for(e.user_id for e, _ in valid))
        stored_ids: list[UUID] = []
        dropped: Counter[tuple[date, str]] = Counter()
        duplicates = 0
        for event, timing in valid:
            if event.event_id in known:
                duplicates += 1
                continue
            known.add(event.event_id)
            if self._apply(batch, event, timing, received_at):
                stored_ids.append(event.event_id)
            else:
                dropped[(timing.occurred_at.date(), event.name)] += 1
        marks = IngestMarks(event_ids=stored_ids, not_collected=dict(dropped))
        self._store.save(*batch.changed(), ingest_marks=marks)
        return len(stored_ids), duplicates, sum(dropped.values())

    def _apply(self, batch: BatchAggregates, event: CatalogEvent, timing: Timing, received_at: datetime) -> bool:
        """Record the event; False when consent says it must not be collected."""
        is_consent_update = isinstance(event, UserConsentUpdate)
        subject = batch.subject_of(event.user_id)
        if subject is None and is_consent_update:
            subject = batch.new_subject(event.user_id, self._keys.subject_for(event.user_id, create=True))
        if subject is None:
            return False  # never consented: no record exists, and none is made
        consent = batch.consent(subject)
        if isinstance(event, UserConsentUpdate):
            p = event.properties
            choice = ConsentChoice(
                analytics=p.analytics, personalization=p.personalization, marketing=p.marketing, location=p.location
            )
            consent.change(
                choice, effective_at=timing.occurred_at, source="app_event", changed_by="user", event_id=event.event_id
            )
        if not consent.allows("analytics"):
            # A consent update is still kept on the Consent stream as proof of the choice.
            return is_consent_update
        if isinstance(event, UserSignup):
            user = batch.user(subject, timing.occurred_at)
            referral = event.properties.referral_code
            user.sign_up(event.properties.signup_method, referral or None, timing.occurred_at)
        elif isinstance(event, UserProfileUpdate):
            batch.user(subject, timing.occurred_at).change_profile_fields(
                tuple(event.properties.fields), timing.occurred_at
            )
        else:
            batch.ensure_user(subject, timing.occurred_at)
        batch.session(subject, event.session_id, timing.occurred_at).track(
            event,
            occurred_at=timing.occurred_at,
            received_at=received_at,
            late=timing.late,
            clock_skew_seconds=timing.clock_skew_seconds,
        )
        return True
