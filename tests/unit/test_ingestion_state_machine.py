"""A state machine over consent changes, ingestion and erasure keeps the invariants.

- no event is stored without analytics consent at the time it is processed;
- an erased person is never collected again, not even a later consent grant
  (ingestion and erasure share one erasure register, as in the service);
- an erased user's events never decrypt again;
- the same event_id is never stored twice.
"""

from __future__ import annotations

import uuid

import msgspec
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from application.ingest.ingestion import Ingestion
from application.principals import Principal
from application.privacy.erasure import Erasure
from domain.redacted import RedactedEvent
from domain.session import Session
from tests.fakes import FakeErasureRegister, FakeGeo, FakeKeys, FixedClock, consent, feedback, in_memory_store

SERVICE = Principal(subject="tests", role="service")
USERS = [uuid.UUID(int=i + 1) for i in range(3)]


class IngestionMachine(RuleBasedStateMachine):
    sent = Bundle("sent")

    def __init__(self) -> None:
        super().__init__()
        self.keys = FakeKeys()
        self.store = in_memory_store(self.keys)
        self.clock = FixedClock()
        register = FakeErasureRegister()  # one register, as bootstrap() gives both
        self.ingestion = Ingestion(self.store, self.keys, self.clock, geo=FakeGeo(), erasures=register)
        self.erasure = Erasure(self.store, self.keys, register, self.clock)
        self.consents: dict[uuid.UUID, bool] = {}
        self.erased: set[uuid.UUID] = set()
        self.erased_comments: set[str] = set()

    def _send(self, raw: bytes) -> None:
        self.ingestion.ingest([raw], sent_at=None, principal=SERVICE)

    def _stored_count(self) -> int:
        return self.store.recorder.max_notification_id() or 0

    @rule(user=st.sampled_from(USERS), analytics=st.booleans())
    def change_consent(self, user: uuid.UUID, analytics: bool) -> None:
        before = self._stored_count()
        self._send(consent(user, analytics=analytics, at=self.clock.now()))
        if user in self.erased:
            assert self._stored_count() == before, "an erased person's consent update was collected"
            return
        assert self._stored_count() > before, "a consent update was not recorded"
        self.consents[user] = analytics

    @rule(target=sent, user=st.sampled_from(USERS))
    def send_feedback(self, user: uuid.UUID) -> tuple[uuid.UUID, bytes, bool]:
        comment = f"comment-{uuid.uuid4().hex}"
        raw = feedback(user, comment, at=self.clock.now())
        self._send(raw)
        return user, raw, self.consents.get(user, False) and user not in self.erased

    @rule(item=sent)
    def resend(self, item: tuple[uuid.UUID, bytes, bool]) -> None:
        self._send(item[1])

    @rule(user=st.sampled_from(USERS))
    def erase(self, user: uuid.UUID) -> None:
        subject = self.keys.subject_for(user, create=False)
        if subject is None:
            return
        for stored in self.store.recorder.select_notifications(1, 100_000):
            event = self.store.mapper.to_domain_event(stored)
            if isinstance(event, Session.EventsTracked) and event.subject_id == subject:
                for tracked in event.events:
                    comment = getattr(tracked.event.properties, "comment", None)
                    if comment:
                        self.erased_comments.add(comment)
        self.erasure.erase(user, requested_by="machine")
        self.consents[user] = False
        self.erased.add(user)

    @rule(item=consumes(sent))
    def forget(self, item: tuple[uuid.UUID, bytes, bool]) -> None:
        """Keeps the bundle small."""

    @invariant()
    def invariants_hold(self) -> None:
        stored_ids: list[uuid.UUID] = []
        readable = b""
        for stored in self.store.recorder.select_notifications(1, 100_000):
            event = self.store.mapper.to_domain_event(stored)
            if isinstance(event, RedactedEvent):
                continue
            readable += msgspec.json.encode(vars(event))
            if isinstance(event, Session.EventsTracked):
                for tracked in event.events:
                    stored_ids.append(tracked.event.event_id)
                    # stored only while analytics consent was on: a fresh feedback, or the
                    # consent update that turned analytics on
                    assert tracked.event.name != "user_consent_update" or tracked.event.properties.analytics  # type: ignore[union-attr]
        assert len(stored_ids) == len(set(stored_ids)), "an event_id was stored twice"
        for comment in self.erased_comments:
            assert comment.encode() not in readable, "an erased user's event decrypted"


class ConsentGuardMachine(IngestionMachine):
    """Adds the direct check: a feedback sent without consent is never stored."""

    @rule(target=IngestionMachine.sent, user=st.sampled_from(USERS))
    def send_feedback_and_check(self, user: uuid.UUID) -> tuple[uuid.UUID, bytes, bool]:
        before = self._stored_count()
        item = self.send_feedback(user)
        after = self._stored_count()
        if not item[2]:
            assert after == before, "stored an event without analytics consent, or of an erased person"
        else:
            assert after > before
        return item


TestIngestionMachine = ConsentGuardMachine.TestCase
TestIngestionMachine.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
