"""Every submitted event is accounted for exactly once."""

from __future__ import annotations

import uuid

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
    for _ in range(data.draw(st.integers(1, 4))):
        batch = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=12))
        report = ingestion.ingest(batch, sent_at=None, principal=SERVICE)
        assert report.accepted + report.duplicates + len(report.rejected) + report.not_collected == len(batch)
