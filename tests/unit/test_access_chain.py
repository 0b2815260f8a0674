"""The access log's hash chain, without a database: any edit or removal shows at its seq."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from application.api_access.access_log import (
    GENESIS_HASH,
    ChainHead,
    SignedHead,
    canonical_bytes,
    head_mac,
    seal,
    verify_chain,
)
from application.api_access.ports import AccessEntry, AccessRecord

KEY = b"k" * 32

entries = st.builds(
    AccessEntry,
    at=st.datetimes(max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    principal=st.text(max_size=20),
    role=st.sampled_from(["admin", "auditor", "analyst"]),
    method=st.sampled_from(["GET", "POST"]),
    route=st.sampled_from(["/api/metrics/flourish-index", "/api/audit/access-log", "/api/users/{user_id:uuid}"]),
    status=st.integers(100, 599),
    outcome=st.sampled_from(["allowed", "denied", "error", "rate_limited"]),
)


def chain(items: list[AccessEntry], key: bytes | None) -> list[AccessRecord]:
    records: list[AccessRecord] = []
    for entry in items:
        last = (
            ChainHead(seq=0, hash=GENESIS_HASH)
            if not records
            else ChainHead(seq=records[-1].seq, hash=records[-1].hash)
        )
        records.append(seal(entry, last, key))
    return records


def head_of(records: list[AccessRecord], key: bytes | None) -> SignedHead:
    """The head the store keeps after ``records``, signed with ``key``."""
    last = records[-1]
    return SignedHead(seq=last.seq, hash=last.hash, mac=head_mac(last.seq, last.hash, key))


def entry(**changes: object) -> AccessEntry:
    base = AccessEntry(
        at=datetime(2030, 1, 1, tzinfo=UTC),
        principal="p",
        role="admin",
        method="GET",
        route="/api/audit/access-log",
        status=200,
        outcome="allowed",
    )
    return msgspec.structs.replace(base, **changes)


def changed(old: object, field: str, step: int) -> object:
    match field:
        case "seq" | "status":
            assert isinstance(old, int)
            return old + step
        case "at":
            assert isinstance(old, datetime)
            return old + timedelta(microseconds=step)
        case "outcome":
            return "denied" if old != "denied" else "allowed"
        case _:
            return f"{old}x"


@settings(max_examples=60, deadline=None)
@given(items=st.lists(entries, min_size=1, max_size=8), key=st.sampled_from([None, KEY]))
def test_an_untouched_chain_verifies_and_links_each_record_to_the_one_before(
    items: list[AccessEntry], key: bytes | None
) -> None:
    records = chain(items, key)
    assert records[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
    report = verify_chain(records, head_of(records, key), key)
    assert (report.ok, report.records, report.head_hash) == (True, len(records), records[-1].hash)


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(entries, min_size=1, max_size=8),
    key=st.sampled_from([None, KEY]),
    data=st.data(),
    field=st.sampled_from(
        ["seq", "at", "principal", "role", "method", "route", "status", "outcome", "prev_hash", "hash"]
    ),
)
def test_changing_any_field_of_any_record_fails_verification_at_that_record(
    items: list[AccessEntry], key: bytes | None, data: st.DataObject, field: str
) -> None:
    records = chain(items, key)
    head = head_of(records, key)
    i = data.draw(st.integers(0, len(records) - 1))
    old = getattr(records[i], field)
    new = changed(old, field, data.draw(st.integers(1, 5)))
    records[i] = msgspec.structs.replace(records[i], **{field: new})
    report = verify_chain(records, head, key)
    assert (report.ok, report.first_bad_seq, report.records) == (False, i + 1, i)


@settings(max_examples=60, deadline=None)
@given(items=st.lists(entries, min_size=2, max_size=8), key=st.sampled_from([None, KEY]), data=st.data())
def test_removing_any_record_fails_verification_at_its_seq(
    items: list[AccessEntry], key: bytes | None, data: st.DataObject
) -> None:
    records = chain(items, key)
    head = head_of(records, key)
    i = data.draw(st.integers(0, len(records) - 1))
    del records[i]
    report = verify_chain(records, head, key)
    assert (report.ok, report.first_bad_seq) == (False, i + 1)


def test_a_missing_head_or_a_record_beyond_it_is_reported() -> None:
    records = chain([entry(status=s) for s in (200, 201, 202)], None)
    assert verify_chain(records, None, None).first_bad_seq == 4
    beyond = verify_chain(records, head_of(records[:2], None), None)
    assert (beyond.ok, beyond.first_bad_seq, beyond.records) == (False, 3, 2)


def test_another_key_or_none_fails_at_the_first_record_and_says_why() -> None:
    records = chain([entry(), entry()], KEY)
    for other in (None, b"o" * 32):
        report = verify_chain(records, head_of(records, KEY), other)
        assert report.first_bad_seq == 1
        assert "key" in (report.problem or "")


def test_the_hash_covers_a_canonical_encoding_in_utc_and_field_order() -> None:
    plus_two = timezone(timedelta(hours=2))
    record = seal(entry(at=datetime(2030, 1, 1, 2, tzinfo=plus_two)), ChainHead(seq=0, hash=GENESIS_HASH), None)
    assert canonical_bytes(record) == (
        b'{"seq":1,"at":"2030-01-01T00:00:00Z","principal":"p","role":"admin","method":"GET",'
        b'"route":"/api/audit/access-log","status":200,"outcome":"allowed","prev_hash":"' + b"0" * 64 + b'"}'
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"route": "/api/users/8d0c2a1e?email=a@b.c"},
        {"route": "api/metrics"},
        {"at": datetime(2030, 1, 1)},  # naive: refused
        {"outcome": "maybe"},
    ],
)
def test_an_entry_with_a_query_a_naive_time_or_an_unknown_outcome_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="AccessEntry"):
        seal(entry(**bad), ChainHead(seq=0, hash=GENESIS_HASH), None)


def test_a_head_pointed_at_an_earlier_record_without_the_key_fails_verification() -> None:
    records = chain([entry(status=s) for s in (200, 201, 202, 203)], KEY)
    forged = SignedHead(seq=2, hash=records[1].hash, mac=head_mac(2, records[1].hash, None))  # no key to sign with
    report = verify_chain(records[:2], forged, KEY)
    assert (report.ok, report.first_bad_seq, report.records) == (False, 3, 2)
    assert "MAC" in (report.problem or "")
    assert verify_chain(records[:2], head_of(records[:2], KEY), KEY).ok  # only the key holder can sign a head
