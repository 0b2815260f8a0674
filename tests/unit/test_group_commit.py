"""Group commit: concurrent requests share one transaction, each gets its own report."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import Future

import pytest

from adapters.metrics.prometheus import PrometheusMetrics
from application.alerting.outcomes import OutcomeTally
from application.alerting.ports import IngestOutcomes
from application.errors import StorageError
from application.ingest.group_commit import GroupCommit
from application.ingest.ingestion import Ingestion, IngestReport, PreparedBatch
from application.observability.ports import OutcomesSeenBy
from application.principals import Principal
from application.store import AnalyticsStore
from tests.fakes import FakeErasureRegister, FakeGeo, FakeKeys, FixedClock, consent, event, feedback, in_memory_store

SERVICE = Principal(subject="tests", role="service")


@pytest.fixture
def parts() -> tuple[AnalyticsStore, Ingestion, FixedClock]:
    keys = FakeKeys()
    store = in_memory_store(keys)
    clock = FixedClock()
    return store, Ingestion(store, keys, clock, geo=FakeGeo(), erasures=FakeErasureRegister()), clock


def test_batches_queued_together_are_written_in_one_transaction(
    parts: tuple[AnalyticsStore, Ingestion, FixedClock],
) -> None:
    store, ingestion, clock = parts
    saves: list[int] = []
    original = store.save_pending

    def counting_save(*objs: object, **kwargs: object) -> object:
        saves.append(1)
        return original(*objs, **kwargs)  # type: ignore[arg-type]

    store.save_pending = counting_save  # type: ignore[method-assign]
    writer = GroupCommit(ingestion, max_wait=0.5)
    users = [uuid.uuid4() for _ in range(5)]
    prepared = [
        ingestion.prepare([consent(u, analytics=True, at=clock.now())], sent_at=None, principal=SERVICE) for u in users
    ]
    futures = [writer.submit(p) for p in prepared]  # queued before the writer starts
    writer.start()
    reports = [f.result(timeout=10) for f in futures]
    writer.stop()
    assert [r.accepted for r in reports] == [1] * 5
    assert len(saves) == 1
    assert writer.groups_written == 1


def test_each_request_gets_its_own_counts(parts: tuple[AnalyticsStore, Ingestion, FixedClock]) -> None:
    _, ingestion, clock = parts
    writer = GroupCommit(ingestion, max_wait=0.5)
    user, stranger = uuid.uuid4(), uuid.uuid4()
    twice = feedback(user, "x", at=clock.now())
    first = ingestion.prepare([consent(user, analytics=True, at=clock.now()), twice], sent_at=None, principal=SERVICE)
    second = ingestion.prepare([twice, feedback(stranger, "y", at=clock.now()), b"{}"], sent_at=None, principal=SERVICE)
    futures = [writer.submit(first), writer.submit(second)]
    writer.start()
    a, b = (f.result(timeout=10) for f in futures)
    writer.stop()
    assert (a.accepted, a.duplicates, a.not_collected, len(a.rejected)) == (2, 0, 0, 0)
    assert (b.accepted, b.duplicates, b.not_collected, len(b.rejected)) == (0, 1, 1, 1)


def test_a_request_that_fails_does_not_fail_the_others_of_its_group(
    parts: tuple[AnalyticsStore, Ingestion, FixedClock],
) -> None:
    _, ingestion, clock = parts
    poison = uuid.uuid4()
    original = ingestion.record

    def record(batches: list[PreparedBatch]) -> list[IngestReport]:
        if any(e.user_id == poison for b in batches for e, _ in b.valid):
            raise RuntimeError("this request cannot be written")
        return original(batches)

    ingestion.record = record  # type: ignore[assignment,method-assign]
    writer = GroupCommit(ingestion, max_wait=0.5)
    good, bad = uuid.uuid4(), poison
    futures: list[Future[IngestReport]] = [
        writer.submit(ingestion.prepare([consent(u, analytics=True, at=clock.now())], sent_at=None, principal=SERVICE))
        for u in (good, bad)
    ]
    writer.start()
    assert futures[0].result(timeout=10).accepted == 1
    with pytest.raises(RuntimeError, match="cannot be written"):
        futures[1].result(timeout=10)
    writer.stop()


def test_a_request_with_nothing_valid_is_answered_without_the_writer(
    parts: tuple[AnalyticsStore, Ingestion, FixedClock],
) -> None:
    _, ingestion, _ = parts
    writer = GroupCommit(ingestion)  # never started
    prepared = ingestion.prepare([b"{}"], sent_at=None, principal=SERVICE, keep_rejected=False)
    report = writer.submit(prepared).result(timeout=1)
    assert len(report.rejected) == 1


def test_stop_finishes_what_was_submitted(parts: tuple[AnalyticsStore, Ingestion, FixedClock]) -> None:
    _, ingestion, clock = parts
    writer = GroupCommit(ingestion, max_wait=0.01)
    writer.start()
    futures = [
        writer.submit(
            ingestion.prepare([consent(uuid.uuid4(), analytics=True, at=clock.now())], sent_at=None, principal=SERVICE)
        )
        for _ in range(50)
    ]
    writer.stop()
    assert all(f.done() and f.result().accepted == 1 for f in futures)
    assert not any(t.name == "group-commit" and t.is_alive() for t in threading.enumerate())


def test_a_request_with_only_rejected_events_is_written_for_their_quarantine(
    parts: tuple[AnalyticsStore, Ingestion, FixedClock],
) -> None:
    store, ingestion, _ = parts
    writer = GroupCommit(ingestion)
    future = writer.submit(ingestion.prepare([b"{}"], sent_at=None, principal=SERVICE))
    assert not future.done()  # waits for the writer: the rejected event must be kept
    writer.start()
    assert len(future.result(timeout=10).rejected) == 1
    writer.stop()
    assert store.recorder.max_notification_id() == 1


def test_when_storage_fails_every_request_of_the_group_gets_the_error(
    parts: tuple[AnalyticsStore, Ingestion, FixedClock],
) -> None:
    _, ingestion, clock = parts

    def failing(batches: list[PreparedBatch]) -> list[IngestReport]:
        raise StorageError("database unreachable")

    ingestion.record = failing  # type: ignore[assignment,method-assign]
    writer = GroupCommit(ingestion, max_wait=0.5)
    futures = [
        writer.submit(
            ingestion.prepare([consent(uuid.uuid4(), analytics=True, at=clock.now())], sent_at=None, principal=SERVICE)
        )
        for _ in range(3)
    ]
    writer.start()
    for future in futures:
        with pytest.raises(StorageError, match="unreachable"):
            future.result(timeout=10)
    writer.stop()


class _OutcomeTable(IngestOutcomes):
    def __init__(self) -> None:
        self.counted: Counter[str] = Counter()

    def add(self, second: int, counts: Mapping[str, int]) -> None:
        self.counted.update(counts)

    def totals(self, since: int, until: int) -> dict[str, int]:
        return dict(self.counted)

    def totals_per(self, since: int, until: int, step: int) -> dict[int, dict[str, int]]:
        return {since: dict(self.counted)}

    def prune(self, before: int) -> None:
        pass


def test_the_metrics_and_the_alert_tally_read_the_same_counts_failed_writes_included(
    parts: tuple[AnalyticsStore, Ingestion, FixedClock],
) -> None:
    _, ingestion, clock = parts
    metrics, table = PrometheusMetrics(), _OutcomeTable()
    tally = OutcomeTally(table, now=lambda: clock.now().timestamp())
    writer = GroupCommit(ingestion, metrics=metrics, outcomes=OutcomesSeenBy(metrics, tally))
    writer.start()
    user = uuid.uuid4()
    missing = event("wave_joined", user, {})
    sent = [consent(user, analytics=True, at=clock.now()), missing]
    writer.submit(ingestion.prepare(sent, sent_at=None, principal=SERVICE)).result(timeout=10)

    def failing(batches: list[PreparedBatch]) -> list[IngestReport]:
        raise StorageError("database unreachable")

    ingestion.record = failing  # type: ignore[assignment,method-assign]
    with pytest.raises(StorageError):
        writer.submit(ingestion.prepare(sent, sent_at=None, principal=SERVICE)).result(timeout=10)
    writer.stop()
    tally.stop()
    assert table.counted == {"accepted": 1, "rejected": 1, "rejected_missing": 1, "failed": 2}
    exposition = metrics.exposition().decode()
    for outcome, n in (("accepted", 1), ("rejected", 1), ("failed", 2), ("duplicate", 0)):
        assert f'addvalue_ingest_events_total{{outcome="{outcome}"}} {n}.0' in exposition
    missing_family = 'addvalue_ingest_missing_field_events_total{event="wave_joined",field="properties.wave_id"} 1.0'
    assert missing_family in exposition


def test_a_request_abandoned_by_its_caller_does_not_stop_the_writer(
    parts: tuple[AnalyticsStore, Ingestion, FixedClock],
) -> None:
    # A client that disconnects cancels its request's future (asyncio.wrap_future); resolving it raised in
    # the writer thread and ended it, so every later request waited for ever.
    _, ingestion, clock = parts
    writer = GroupCommit(ingestion, max_wait=0.2)
    first, second = (
        ingestion.prepare([consent(uuid.uuid4(), analytics=True, at=clock.now())], sent_at=None, principal=SERVICE)
        for _ in range(2)
    )
    abandoned = writer.submit(first)
    assert abandoned.cancel()  # still pending: the writer has not started
    writer.start()
    later = writer.submit(second)
    assert later.result(timeout=10).accepted == 1
    writer.stop()
    assert writer.groups_written >= 1


class CountingKeys(FakeKeys):
    def __init__(self) -> None:
        super().__init__()
        self.made_together: list[int] = []
        self.made_alone = 0

    def create_subjects(self, app_user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        wanted = list(app_user_ids)
        self.made_together.append(len(wanted))
        return {u: super(CountingKeys, self).subject_for(u, create=True) or u for u in wanted}

    def subject_for(self, app_user_id: uuid.UUID, *, create: bool) -> uuid.UUID | None:
        self.made_alone += create and app_user_id not in self.subjects
        return super().subject_for(app_user_id, create=create)


def test_people_seen_first_in_a_write_get_their_keys_in_one_call() -> None:
    keys = CountingKeys()
    clock = FixedClock()
    ingestion = Ingestion(in_memory_store(keys), keys, clock, geo=FakeGeo(), erasures=FakeErasureRegister())
    people = [uuid.uuid4() for _ in range(50)]
    batch = [consent(u, analytics=True, at=clock.now()) for u in people]
    batch += [feedback(people[0], "kind", at=clock.now())]
    reports = ingestion.record([ingestion.prepare(batch, sent_at=None, principal=SERVICE)])
    assert reports[0].accepted == 51
    assert keys.made_together == [50]
    assert keys.made_alone == 0
    assert set(keys.subjects) == set(people)
    again = [consent(u, analytics=False, at=clock.now()) for u in people[:3]]
    ingestion.record([ingestion.prepare(again, sent_at=None, principal=SERVICE)])
    assert keys.made_together == [50]  # known people: nothing made
