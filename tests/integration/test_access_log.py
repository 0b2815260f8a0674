"""The API access log on SQLite and PostgreSQL: tampering behind its back shows in verify()."""

from __future__ import annotations

import hashlib
import itertools
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from adapters.api_access.access_log import MAX_PAGE, PostgresAccessLog, SqliteAccessLog, build_access_log
from adapters.database_url import Database
from application.api_access.access_log import (
    GENESIS_HASH,
    AccessLogWriter,
    Checkpoint,
    Outcome,
    canonical_bytes,
    head_mac,
    verify_against,
)
from application.api_access.ports import AccessEntry, AccessRecord
from application.errors import StorageError
from entrypoints.settings import Settings

KEY = b"audit-key-" + b"x" * 22
T0 = datetime(2030, 1, 1, tzinfo=UTC)
Log = SqliteAccessLog | PostgresAccessLog


def entry(n: int = 0, *, outcome: Outcome = "allowed") -> AccessEntry:
    return AccessEntry(
        at=T0 + timedelta(seconds=n),
        principal=f"sub-{n % 3}",
        role="auditor",
        method="GET",
        route="/api/metrics/flourish-index",
        status=200 if outcome == "allowed" else 403,
        outcome=outcome,
    )


def raw(db: Database, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """One statement on the log's tables, behind its back; ``{log}``, ``{head}`` and ``?`` as in SQLite."""
    if db.kind == "sqlite":
        with sqlite3.connect(db.sibling("audit")) as conn:
            return conn.execute(sql.format(log="api_access_log", head="api_access_head"), params).fetchall()
    pg = sql.format(log=f'"{db.schema}".api_access_log', head=f'"{db.schema}".api_access_head').replace("?", "%s")
    with psycopg.connect(db.url) as conn:
        cur = conn.execute(pg, params)
        return cur.fetchall() if cur.description else []


@pytest.fixture
def db(settings: Settings) -> Database:
    return settings.database


@pytest.fixture
def log(db: Database) -> Iterator[Log]:
    built = build_access_log(db, None)
    yield built
    built.close()


def filled(log: Log, n: int) -> list[AccessRecord]:
    return [log.append(entry(i)) for i in range(n)]


def test_a_new_log_verifies_empty(log: Log) -> None:
    report = log.verify()
    assert (report.ok, report.records, report.first_bad_seq, report.head_hash) == (True, 0, None, GENESIS_HASH)


def test_appended_records_chain_page_in_order_and_verify(log: Log) -> None:
    written = filled(log, 7)
    assert [r.seq for r in written] == list(range(1, 8))
    assert written[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(written))
    assert log.page(0, 3) == written[:3]
    assert log.page(3, MAX_PAGE) == written[3:]
    assert log.page(7, 10) == []
    assert log.verify().ok
    assert log.verify().records == 7


def test_the_chain_goes_on_across_restarts_and_with_the_key_it_was_started_with(db: Database) -> None:
    first = build_access_log(db, KEY)
    filled(first, 2)
    first.close()
    second = build_access_log(db, KEY)
    try:
        assert second.append(entry(9)).seq == 3
        assert second.verify().ok
    finally:
        second.close()
    unkeyed = build_access_log(db, None)
    try:
        report = unkeyed.verify()
        assert (report.ok, report.first_bad_seq) == (False, 1)
    finally:
        unkeyed.close()


def test_a_page_too_large_or_empty_is_refused(log: Log) -> None:
    for limit in (0, MAX_PAGE + 1):
        with pytest.raises(ValueError, match="limit"):
            log.page(0, limit)


@pytest.mark.parametrize(
    ("column", "value"),
    [("principal", "someone-else"), ("route", "/api/admin"), ("status", 500), ("outcome", "denied"), ("role", "admin")],
)
def test_editing_a_field_of_a_middle_record_fails_verification_at_that_seq(
    log: Log, db: Database, column: str, value: object
) -> None:
    filled(log, 6)
    raw(db, f"UPDATE {{log}} SET {column} = ? WHERE seq = 3", (value,))
    report = log.verify()
    assert (report.ok, report.first_bad_seq, report.records) == (False, 3, 2)


def test_editing_the_time_of_a_record_is_detected(log: Log, db: Database) -> None:
    filled(log, 4)
    if db.kind == "sqlite":
        raw(db, "UPDATE {log} SET at = ? WHERE seq = 2", ("2030-01-01T00:00:01.5+00:00",))
    else:
        raw(db, "UPDATE {log} SET at = at + interval '1 millisecond' WHERE seq = 2")
    assert log.verify().first_bad_seq == 2


# SQLite only: PostgreSQL's timestamptz column cannot hold anything but a timestamp.
@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_time_that_no_longer_reads_as_a_time_is_reported_not_raised(log: Log, db: Database) -> None:
    filled(log, 3)
    raw(db, "UPDATE {log} SET at = 'yesterday' WHERE seq = 2")
    report = log.verify()
    assert (report.ok, report.first_bad_seq) == (False, 2)
    assert "cannot be read" in (report.problem or "")


def test_a_record_edited_together_with_its_hash_breaks_the_link_to_the_next(log: Log, db: Database) -> None:
    written = filled(log, 5)
    forged = AccessRecord(**{**_fields(written[2]), "route": "/api/other", "hash": ""})
    raw(db, "UPDATE {log} SET route = ?, hash = ? WHERE seq = 3", ("/api/other", _sha(forged)))
    assert log.verify().first_bad_seq == 4


def test_deleting_a_middle_record_is_detected(log: Log, db: Database) -> None:
    filled(log, 6)
    raw(db, "DELETE FROM {log} WHERE seq = 4")
    report = log.verify()
    assert (report.ok, report.first_bad_seq) == (False, 4)
    assert "missing" in (report.problem or "")


@pytest.mark.parametrize("removed", [1, 2])
def test_deleting_the_last_records_is_detected_by_the_head(log: Log, db: Database, removed: int) -> None:
    filled(log, 5)
    raw(db, "DELETE FROM {log} WHERE seq > ?", (5 - removed,))
    report = log.verify()
    assert (report.ok, report.first_bad_seq, report.records) == (False, 6 - removed, 5 - removed)
    assert "head" in (report.problem or "")


def test_deleting_the_head_is_detected_and_stops_appends(log: Log, db: Database) -> None:
    filled(log, 2)
    raw(db, "DELETE FROM {head}")
    assert log.verify().first_bad_seq == 3
    with pytest.raises(StorageError, match="head row is missing"):
        log.append(entry())


def test_swapping_two_records_is_detected(log: Log, db: Database) -> None:
    filled(log, 5)
    raw(db, "UPDATE {log} SET seq = CASE seq WHEN 2 THEN -3 ELSE -2 END WHERE seq IN (2, 3)")
    raw(db, "UPDATE {log} SET seq = -seq WHERE seq < 0")
    assert log.verify().first_bad_seq == 2


def test_inserting_a_record_in_the_middle_is_detected(log: Log, db: Database) -> None:
    written = filled(log, 4)
    raw(db, "UPDATE {log} SET seq = seq + 1000 WHERE seq >= 3")
    raw(db, "UPDATE {log} SET seq = seq - 999 WHERE seq > 1000")
    forged = AccessRecord(**{**_fields(written[2]), "principal": "nobody", "hash": ""})
    _insert(db, AccessRecord(**{**_fields(forged), "hash": _sha(forged)}))
    raw(db, "UPDATE {head} SET seq = 5")
    assert log.verify().first_bad_seq == 4


def test_a_record_added_after_the_head_is_detected(log: Log, db: Database) -> None:
    written = filled(log, 3)
    extra = AccessRecord(**{**_fields(written[2]), "seq": 4, "prev_hash": written[2].hash, "hash": ""})
    _insert(db, AccessRecord(**{**_fields(extra), "hash": _sha(extra)}))
    assert log.verify().first_bad_seq == 4


def test_only_the_key_stops_someone_with_database_access_from_extending_the_chain(db: Database) -> None:
    for key, detected in ((None, False), (KEY, True)):
        log = build_access_log(db, key)
        try:
            raw(db, "DELETE FROM {log}")
            raw(db, "UPDATE {head} SET seq = 0, hash = ?, mac = ?", (GENESIS_HASH, head_mac(0, GENESIS_HASH, key)))
            last = log.append(entry())
            extra = AccessRecord(**{**_fields(last), "seq": 2, "prev_hash": last.hash, "hash": ""})
            _insert(db, AccessRecord(**{**_fields(extra), "hash": _sha(extra)}))
            # Without the key, the head can only be signed as an unkeyed log signs it.
            raw(db, "UPDATE {head} SET seq = 2, hash = ?, mac = ?", (_sha(extra), head_mac(2, _sha(extra), None)))
            assert log.verify().ok is not detected
        finally:
            log.close()


def test_concurrent_appends_from_threads_and_two_instances_form_one_gap_free_chain(db: Database) -> None:
    logs = [build_access_log(db, KEY), build_access_log(db, KEY)]
    errors: list[BaseException] = []

    def append_many(log: Log, base: int) -> None:
        try:
            for i in range(40):
                log.append(entry(base + i, outcome="denied" if i % 5 == 0 else "allowed"))
        except BaseException as e:  # reported below, not lost in the thread
            errors.append(e)

    threads = [threading.Thread(target=append_many, args=(logs[t % 2], t * 100)) for t in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        report = logs[0].verify()
        assert (report.ok, report.records) == (True, 160)
        assert [r.seq for r in logs[1].page(0, MAX_PAGE)] == list(range(1, 161))
    finally:
        for log in logs:
            log.close()


def _fields(record: AccessRecord) -> dict[str, Any]:
    return {f: getattr(record, f) for f in record.__struct_fields__}


def _sha(record: AccessRecord) -> str:
    return hashlib.sha256(canonical_bytes(record)).hexdigest()


def _insert(db: Database, r: AccessRecord) -> None:
    at = r.at.isoformat() if db.kind == "sqlite" else r.at
    raw(
        db,
        "INSERT INTO {log} (seq, at, principal, role, method, route, status, outcome, prev_hash, hash)"
        " VALUES (?,?,?,?,?,?,?,?,?,?)",
        (r.seq, at, r.principal, r.role, r.method, r.route, r.status, r.outcome, r.prev_hash, r.hash),
    )


def test_a_batch_is_appended_as_consecutive_linked_records_in_one_go(log: Log) -> None:
    first = log.append(entry(0))
    batch = log.append_many([entry(1), entry(2, outcome="denied"), entry(3)])
    assert [r.seq for r in batch] == [2, 3, 4]
    assert batch[0].prev_hash == first.hash
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(batch))
    assert log.append_many([]) == []
    assert log.append(entry(4)).prev_hash == batch[-1].hash
    assert log.page(0, MAX_PAGE) == [first, *batch, *log.page(4, 1)]
    assert log.verify().ok
    assert log.verify().records == 5


class _Counted:
    """The real log, counting the transactions (batches) it is asked for; the first one waits for ``go``."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.batches: list[int] = []
        self.go = threading.Event()

    def append_many(self, entries: Any) -> list[AccessRecord]:
        self.go.wait(10)
        self.batches.append(len(entries))
        return self.log.append_many(entries)

    def append(self, entry: AccessEntry) -> AccessRecord:
        return self.append_many([entry])[0]

    def page(self, after_seq: int, limit: int) -> list[AccessRecord]:
        return self.log.page(after_seq, limit)

    def verify(self) -> Any:
        return self.log.verify()


def test_the_writer_commits_concurrent_requests_records_together_in_one_verified_chain(db: Database) -> None:
    logs = [build_access_log(db, KEY), build_access_log(db, KEY)]  # two processes' writers, one chain
    counted = [_Counted(log) for log in logs]
    writers = [AccessLogWriter(c) for c in counted]
    try:
        futures = [writers[i % 2].submit(entry(i)) for i in range(60)]  # queued while the first batch waits
        for c in counted:
            c.go.set()
        records = [f.result(timeout=30) for f in futures]
        assert sorted(r.seq for r in records) == list(range(1, 61))
        for c in counted:
            assert sum(c.batches) == 30
            assert len(c.batches) < 30  # grouped: fewer transactions than records
        # Each writer keeps its queue's order in the chain.
        for w in range(2):
            mine = [r.seq for r in records[w::2]]
            assert mine == sorted(mine)
        report = logs[0].verify()
        assert (report.ok, report.records) == (True, 60)
        assert [r.principal for r in logs[1].page(0, MAX_PAGE)] == [r.principal for r in sorted(records, key=_seq)]
    finally:
        for log in logs:
            log.close()


def test_a_bad_entry_is_refused_alone_and_a_failed_batch_fails_only_its_own_requests(db: Database) -> None:
    log = build_access_log(db, None)
    writer = AccessLogWriter(log)
    try:
        with pytest.raises(ValueError, match="route template"):
            writer.submit(AccessEntry(**{**_fields(entry(0)), "route": "/api/metrics/x?user_id=1"}))
        assert writer.submit(entry(1)).result(timeout=10).seq == 1
        raw(db, "DELETE FROM {head}")
        with pytest.raises(StorageError, match="head row is missing"):
            writer.submit(entry(2)).result(timeout=10)
        assert [r.seq for r in log.page(0, MAX_PAGE)] == [1]
    finally:
        log.close()


def _seq(record: AccessRecord) -> int:
    return record.seq


@pytest.fixture
def keyed_log(db: Database) -> Iterator[Log]:
    built = build_access_log(db, KEY)
    yield built
    built.close()


def truncate_under_a_copied_head(log: Log, db: Database, *, written: int, kept: int) -> None:
    """The attack of issue 13 item 3: delete the newest records, copy the last kept one's seq and hash into the head."""
    records = filled(log, written)
    raw(db, "DELETE FROM {log} WHERE seq > ?", (kept,))
    raw(db, "UPDATE {head} SET seq = ?, hash = ?", (kept, records[kept - 1].hash))


def test_deleting_the_last_records_and_copying_an_earlier_record_into_the_head_fails_verification(
    keyed_log: Log, db: Database
) -> None:
    truncate_under_a_copied_head(keyed_log, db, written=11, kept=7)
    report = keyed_log.verify()
    assert (report.ok, report.first_bad_seq) == (False, 8)
    assert "head" in (report.problem or "")


def test_a_replayed_old_head_passes_verify_but_not_the_checkpoint_kept_outside(keyed_log: Log, db: Database) -> None:
    filled(keyed_log, 7)
    old_head = raw(db, "SELECT * FROM {head}")[0]
    filled(keyed_log, 4)
    checkpoint = keyed_log.verify().checkpoint
    assert checkpoint is not None
    assert checkpoint.startswith("11:")
    raw(db, "DELETE FROM {log} WHERE seq > 7")
    raw(db, "DELETE FROM {head}")
    raw(db, "INSERT INTO {head} VALUES (" + ",".join("?" * len(old_head)) + ")", tuple(old_head))
    assert keyed_log.verify().ok  # the head is a genuine one, only old: the database alone cannot tell
    report = verify_against(keyed_log, Checkpoint.parse(checkpoint))
    assert (report.ok, report.first_bad_seq) == (False, 8)
    assert "checkpoint" in (report.problem or "")
    assert verify_against(keyed_log, Checkpoint.parse(checkpoint.replace("11:", "7:"))).ok is False  # wrong hash


def test_appending_after_a_forged_head_is_refused_so_a_truncation_is_not_signed_over(
    keyed_log: Log, db: Database
) -> None:
    truncate_under_a_copied_head(keyed_log, db, written=5, kept=3)
    with pytest.raises(StorageError, match="not authentic"):
        keyed_log.append(entry(9))
    assert keyed_log.verify().first_bad_seq == 4


def test_a_log_written_before_the_head_mac_is_upgraded_on_opening_and_still_verifies(db: Database) -> None:
    log = build_access_log(db, KEY)
    filled(log, 3)
    log.close()
    raw(db, "ALTER TABLE {head} DROP COLUMN mac")  # the head table as versions before the MAC made it
    reopened = build_access_log(db, KEY)
    try:
        assert reopened.verify().ok
        assert reopened.append(entry(5)).seq == 4
        report = reopened.verify()
        assert (report.ok, report.records) == (True, 4)
    finally:
        reopened.close()


def test_summaries_and_whose_data_was_read_are_kept_and_a_log_from_before_gets_the_columns(
    keyed_log: Log, db: Database
) -> None:
    filled(keyed_log, 2)
    keyed_log.close()
    raw(db, "ALTER TABLE {log} DROP COLUMN requests")  # the log as versions before summaries made it
    raw(db, "ALTER TABLE {log} DROP COLUMN about")
    reopened = build_access_log(db, KEY)
    try:
        summary = AccessEntry(**{**_fields(entry(3, outcome="denied")), "status": 401, "requests": 25})
        reopened.append(summary)
        read = AccessEntry(**{**_fields(entry(4)), "about": "person:" + "a" * 32})
        reopened.append(read)
        assert [(r.requests, r.about) for r in reopened.page(0, MAX_PAGE)] == [
            (1, ""),
            (1, ""),
            (25, ""),
            (1, read.about),
        ]
        assert reopened.verify().ok
    finally:
        reopened.close()
