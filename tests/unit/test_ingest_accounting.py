"""Every submitted event is accounted for exactly once, and in the right category."""

from __future__ import annotations

import json
import uuid
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from application.ingest.ingestion import Ingestion
from application.principals import Principal
from tests.fakes import FakeErasureRegister, FakeGeo, FakeKeys, FixedClock, consent, event, feedback, in_memory_store

SERVICE = Principal(subject="tests", role="service")
USERS = [uuid.UUID(int=i + 1) for i in range(3)]


def kinds(user: uuid.UUID, clock: FixedClock) -> st.SearchStrategy[bytes]:
    now = clock.now()
    return st.sampled_from(
        [
            consent(user, analytics=True, at=now),
            consent(user, analytics=False, at=now),
            feedback(user, "x", at=now),
            event("wave_joined", user, {"wave_id": "w", "extra": 1}, at=now),
            b"not json",
            b"{}",
        ]
    )


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_accepted_duplicates_rejected_and_not_collected_add_up_to_what_was_submitted(data: st.DataObject) -> None:
    keys, clock = FakeKeys(), FixedClock()
    store = in_memory_store(keys)
    ingestion = Ingestion(store, keys, clock, geo=FakeGeo(), erasures=FakeErasureRegister())
    pool = [data.draw(kinds(u, clock)) for u in USERS for _ in range(3)]
    model = Model()
    for _ in range(data.draw(st.integers(1, 4))):
        batch = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=12))
        report = ingestion.ingest(batch, sent_at=None, principal=SERVICE)
        assert report.accepted + report.duplicates + len(report.rejected) + report.not_collected == len(batch)
        expected = model.outcomes(batch)
        found = (report.accepted, report.duplicates, len(report.rejected), report.not_collected)
        assert found == (expected["accepted"], expected["duplicate"], expected["rejected"], expected["not_collected"])


class Model:
    """What each event should come to, from the rules alone (docs/pipeline.md).

    Bad input is rejected; an event id already in the ledger, or seen earlier in the group, is a duplicate;
    a consent update is always collected; anything else only while the sender's analytics consent is on,
    as the events before it in the same batch left it.
    """

    def __init__(self) -> None:
        self.stored: set[str] = set()
        self.analytics: dict[str, bool] = {}

    def outcomes(self, batch: list[bytes]) -> Counter[str]:
        counted: Counter[str] = Counter()
        seen: set[str] = set()
        for raw in batch:
            counted[self.outcome(raw, seen)] += 1
        return counted

    def outcome(self, raw: bytes, seen: set[str]) -> str:
        try:
            sent = json.loads(raw)
        except ValueError:
            return "rejected"
        if "event_id" not in sent or "extra" in sent.get("properties", {}):
            return "rejected"  # "{}" lacks every required field; "extra" is no property of wave_joined
        if sent["event_id"] in self.stored | seen:
            return "duplicate"
        seen.add(sent["event_id"])
        user = sent["user_id"]
        if sent["event_name"] == "user_consent_update":
            self.analytics[user] = sent["properties"]["analytics"]
        elif not self.analytics.get(user, False):
            return "not_collected"
        self.stored.add(sent["event_id"])
        return "accepted"
