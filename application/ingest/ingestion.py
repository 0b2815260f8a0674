"""Use case: take batches of app events and store what the catalog and consent allow.

Two steps. :meth:`Ingestion.prepare` checks one request's events on their own
(catalog, sender's right to speak for the user, time bounds) and needs no
storage. :meth:`Ingestion.record` writes the prepared events of one or many
requests in one transaction, in order: duplicates dropped, consent applied,
events recorded on their aggregates, the ledger of stored ids written with
them. A 2xx is only sent once that transaction has committed.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import cast
from uuid import UUID

import msgspec
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import IntegrityError

from application.ingest.ports import GeoLookup
from application.ingest.quarantining import OrphanKey, Quarantinable, quarantined, rejected_from
from application.ingest.recording import Recording
from application.ingest.session_appends import SessionAppends
from application.ingest.unit_of_work import UnitOfWork
from application.ports import Clock, IngestMarks, SubjectKeys
from application.principals import Principal
from application.privacy.ports import ErasureRegister
from application.store import AnalyticsStore
from domain.catalog import CatalogEvent, UserConsentUpdate
from domain.consent import ConsentChoice
from domain.errors import EventRejected, FieldError
from domain.network import InvalidAddress, anonymize_ip
from domain.session import DEFAULT_SESSION_TIMEOUT
from domain.timing import Timing, place_in_time
from domain.validation import decode_event

__all__ = ["BURST_PER_MINUTE", "IngestReport", "Ingestion", "PreparedBatch", "Rejection"]

_RETRIES = 3
# How long writes stay alone after another process was last seen writing the same streams.
_ALONE_SECONDS = 10.0
# Writes whose stored ids are remembered (see Ingestion.record).
_RECENT_WRITES = 64


class Rejection(msgspec.Struct, frozen=True):
    index: int
    event_id: str | None
    errors: list[FieldError]


class IngestReport(msgspec.Struct, frozen=True, kw_only=True):
    accepted: int
    duplicates: int
    rejected: list[Rejection]
    not_collected: int


class PreparedBatch(msgspec.Struct, frozen=True, kw_only=True):
    """One request's events after the checks that need no storage."""

    valid: list[tuple[CatalogEvent, Timing]]
    rejected: list[Rejection]
    received_at: datetime
    sent_at: datetime | None = None
    source: str = "http"
    sender: Principal | None = None
    # The sender's address with its host part cut off (IPv4 /24, IPv6 /48); never the full one.
    network: str | None = None
    quarantine: list[Quarantinable] = msgspec.field(default_factory=list)


class _Outcome:
    __slots__ = ("accepted", "duplicates", "not_collected")

    def __init__(self) -> None:
        self.accepted = self.duplicates = self.not_collected = 0


# More events than this from one person within one minute (in one write) are flagged "burst":
# an Activation Day with all its rounds, moods and micro-acts stays far below it.
BURST_PER_MINUTE = 120


def _minute(at: datetime) -> int:
    """Minutes since the epoch: an int, cheap to hash."""
    return int(at.timestamp()) // 60


def _anonymized(client_ip: str | None) -> str | None:
    if client_ip is None:
        return None
    try:
        return anonymize_ip(client_ip)
    except InvalidAddress:
        return None  # not an IP (a Unix socket, a test client): nothing to keep


def _check_write_key_only_withdraws(event: UserConsentUpdate) -> None:
    """A write key may withdraw consent, never grant it.

    The key is shipped inside the app, so anyone holds it and user ids are not
    secret: a grant sent with it would be false proof of someone's consent
    (GDPR Art. 7(1)). A withdrawal only ever reduces collection, so anyone may send it.
    """
    p = event.properties
    choice = ConsentChoice(
        analytics=p.analytics, personalization=p.personalization, marketing=p.marketing, location=p.location
    )
    if choice.grants_anything:
        raise EventRejected(
            [
                FieldError(
                    "properties",
                    "a write key is public, so it may only withdraw consent (every purpose false), never grant it: "
                    "send grants with the person's own token, a service token, or PUT /api/users/{id}/consent",
                )
            ]
        )


class Ingestion:
    def __init__(
        self,
        store: AnalyticsStore,
        keys: SubjectKeys,
        clock: Clock,
        *,
        session_timeout: timedelta = DEFAULT_SESSION_TIMEOUT,
        geo: GeoLookup,
        erasures: ErasureRegister,
    ) -> None:
        self._store = store
        self._keys = keys
        self._clock = clock
        self._session_timeout = session_timeout
        self._geo = geo
        self._erasures = erasures
        # The ids stored by this process's latest writes, so a quick replay is known without a refused write.
        self._recent: deque[list[int]] = deque()
        self._recent_ids: set[int] = set()
        # Until then (time.monotonic) writes hold the ingest lock alone: another process writes the same streams.
        self._alone_until = 0.0
        self._clock_now = time.monotonic

    def ingest(self, raw_events: Sequence[bytes], *, sent_at: datetime | None, principal: Principal) -> IngestReport:
        """Prepare and record one request on its own (CLI, demo, tests)."""
        return self.record([self.prepare(raw_events, sent_at=sent_at, principal=principal)])[0]

    def prepare(
        self,
        raw_events: Sequence[bytes],
        *,
        sent_at: datetime | None,
        principal: Principal,
        source: str = "http",
        received_at: datetime | None = None,
        keep_rejected: bool = True,
        client_ip: str | None = None,
    ) -> PreparedBatch:
        """Check each event on its own; rejected ones are kept for quarantine unless told not to.

        ``client_ip`` is anonymized here, first thing, and the full address goes no further.
        """
        network = _anonymized(client_ip)
        received_at = received_at or self._clock.now()
        valid: list[tuple[CatalogEvent, Timing]] = []
        rejected: list[Rejection] = []
        quarantine: list[Quarantinable] = []
        for index, raw in enumerate(raw_events):
            try:
                event = decode_event(raw)
                self._authorize(principal, event)
                valid.append((event, place_in_time(event.timestamp, received_at=received_at, sent_at=sent_at)))
            except EventRejected as e:
                event_id, kept = rejected_from(principal, raw, e.errors)
                rejected.append(Rejection(index, event_id, e.errors))
                if keep_rejected:
                    quarantine.append(kept)
        return PreparedBatch(
            valid=valid,
            rejected=rejected,
            received_at=received_at,
            sent_at=sent_at,
            source=source,
            sender=principal,
            network=network,
            quarantine=quarantine,
        )

    def record(self, batches: Sequence[PreparedBatch]) -> list[IngestReport]:
        """Write the batches in one transaction; one report per batch, in order.

        The ledger is not asked first: a write assumes its events are new unless
        this process stored them lately (remembered), and the ledger's primary key
        refuses the transaction if one is stored already. Then, as when another
        process wrote one of these streams first, it starts over from what is now
        committed, asking the ledger. So a replay costs one refused transaction,
        and new events, nearly all of them, cost no lookup at all.
        """
        with self._store.write_lock:
            for attempt in range(_RETRIES):
                # Alone once another process was seen on these streams (or this write lost a race to one):
                # then no other ingest write can move them between the read and the commit (see
                # adapters.eventstore.ingest_lock). A writer outside ingest (the consent API) still can,
                # rarely: that write starts over.
                alone = attempt > 0 or self._clock_now() < self._alone_until
                try:
                    with self._store.ledger.writing(alone=alone):
                        outcomes = self._record(batches, ask_ledger=attempt > 0)
                    break
                except IntegrityError:
                    self._met_another_writer()
                    if attempt == _RETRIES - 1:
                        raise
        return [
            IngestReport(
                accepted=o.accepted, duplicates=o.duplicates, rejected=b.rejected, not_collected=o.not_collected
            )
            for b, o in zip(batches, outcomes, strict=True)
        ]

    @staticmethod
    def _authorize(principal: Principal, event: CatalogEvent) -> None:
        if principal.may_send_for(event.user_id):
            if principal.role == "write_key" and isinstance(event, UserConsentUpdate):
                _check_write_key_only_withdraws(event)
            return
        if principal.role == "user":
            message = "must be the token's own subject (role 'user' sends only its own events)"
        else:
            message = f"cannot be sent with role '{principal.role}': only roles 'user' and 'service' send events"
        raise EventRejected([FieldError("user_id", message)])

    def _known(self, event_ids: list[UUID], *, ask_ledger: bool) -> set[int]:
        """Of these ids (as integers), those stored already: asked of the ledger, or as this process remembers."""
        if ask_ledger:
            return {i.int for i in self._store.ledger.known_event_ids(event_ids)}
        return {i.int for i in event_ids} & self._recent_ids

    def _met_another_writer(self) -> None:
        self._alone_until = self._clock_now() + _ALONE_SECONDS

    def _remember(self, stored_ids: list[UUID]) -> None:
        ids = [i.int for i in stored_ids]
        self._recent.append(ids)
        self._recent_ids.update(ids)
        while len(self._recent) > _RECENT_WRITES:
            self._recent_ids.difference_update(self._recent.popleft())

    def _record(self, batches: Sequence[PreparedBatch], *, ask_ledger: bool) -> list[_Outcome]:
        # Per event this loop runs thousands of times a second: ids are compared as their
        # integers (uuid.UUID hashes in Python, an int in C), and what belongs to a person
        # or a session is looked up once per write, not once per event.
        events = [e for b in batches for e, _ in b.valid]
        known = self._known([e.event_id for e in events], ask_ledger=ask_ledger)
        rejected_users = [q.app_user_id for b in batches for q in b.quarantine if q.app_user_id]
        senders = {*(e.user_id for e in events), *rejected_users}
        # People who asked to be erased: nothing of theirs is collected again, not even a new consent.
        erased = {u.int for u in self._erasures.blocked(senders)}
        subjects = self._subjects(senders, events, erased)
        sessions = SessionAppends(self._store.mapper, self._session_timeout)
        unit = UnitOfWork(self._store.streams, subjects, sessions)
        self._catch_up(unit, subjects)
        stored_ids: list[UUID] = []
        dropped: Counter[tuple[date, str]] = Counter()
        # (person, minute) of each event, the person as their id's integer
        user_minutes = [[(e.user_id.int, _minute(t.occurred_at)) for e, t in b.valid] for b in batches]
        per_minute = Counter(key for keys in user_minutes for key in keys)
        recording = Recording(unit, self._geo)
        outcomes = []
        for batch, batch_user_minutes in zip(batches, user_minutes, strict=True):
            outcome = _Outcome()
            recording.start_request(received_at=batch.received_at, network=batch.network, sender=batch.sender)
            for (event, timing), user_minute in zip(batch.valid, batch_user_minutes, strict=True):
                event_id = event.event_id.int
                if event_id in known:
                    outcome.duplicates += 1
                    continue
                known.add(event_id)
                bursting = per_minute[user_minute] > BURST_PER_MINUTE
                if user_minute[0] not in erased and recording.apply(event, timing, bursting=bursting):
                    stored_ids.append(event.event_id)
                    outcome.accepted += 1
                else:
                    dropped[(timing.occurred_at.date(), event.name)] += 1
                    outcome.not_collected += 1
            orphan = OrphanKey(self._keys)  # one per request, made only if an entry needs it
            for item in batch.quarantine:
                unit.add_new(
                    quarantined(
                        item,
                        unit,
                        orphan,
                        source=batch.source,
                        sender=batch.sender,
                        received_at=batch.received_at,
                        sent_at=batch.sent_at,
                    )
                )
            outcomes.append(outcome)
        marks = IngestMarks(event_ids=stored_ids, not_collected=dict(dropped), appends=sessions or None)
        try:
            self._store.save_pending(unit.changed(), ingest_marks=marks)
        except BaseException:
            unit.abandoned()
            raise
        unit.committed()
        self._remember(stored_ids)
        return outcomes

    def _subjects(self, senders: set[UUID], events: list[CatalogEvent], erased: set[int]) -> dict[UUID, UUID]:
        """The subjects of the senders not erased; those first seen with a consent get theirs (and a key) here, all
        in one transaction (one each, when recording made them, was a commit per person)."""
        subjects = self._keys.subjects_for([u for u in senders if u.int not in erased])
        first_seen = {
            e.user_id
            for e in events
            if isinstance(e, UserConsentUpdate) and e.user_id not in subjects and e.user_id.int not in erased
        }
        if first_seen:
            subjects.update(self._keys.create_subjects(first_seen))
        return subjects

    def _catch_up(self, unit: UnitOfWork, subjects: dict[UUID, UUID]) -> None:
        """Bring the cached Consent and User streams of this write up to date (one query when none moved).

        Another process (a second serve worker, the CLI, the consent API) may
        have changed a consent since it was cached: it must count now, and
        appending to a stale stream would fail the save. Only the events a stream
        lacks are read and applied, not its history; the streams not cached are
        read whole in the same query. A stale User stream (changed only by signups
        and profile updates) fails its save and the write is retried. Sessions are
        not read at all: their events are appended where each stands at commit
        (application.ingest.session_appends).
        """
        consents = {unit.consent_id(s) for s in subjects.values()}
        streams = self._store.streams
        every = consents.union(subjects.values())
        known = streams.versions(every)
        cached = [s for s in consents if s in known]
        stored = dict(zip(cached, self._store.ledger.last_versions(cached), strict=True)) if cached else {}
        moved = {s: v for s, v in stored.items() if v != known[s]}
        if moved:
            self._met_another_writer()
        wanted = {s: known[s] for s, v in moved.items() if v > known[s]}
        missing = every.difference(known)
        wanted.update(dict.fromkeys(missing, 0))
        found: dict[UUID, list[DomainEventProtocol[UUID]]] = {s: [] for s in wanted}
        to_domain_event = self._store.mapper.to_domain_event
        for stored_event in self._store.ledger.events_after(wanted) if wanted else ():
            found[cast(UUID, stored_event.originator_id)].append(to_domain_event(stored_event))
        streams.fill({s: found[s] for s in missing})
        for stream_id, version in moved.items():
            streams.catch_up(stream_id, version, found.get(stream_id, []))
