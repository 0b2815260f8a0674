"""Issue 13 item 4: the root secret is random and its own, ``rotate-master`` leaves the retired key nothing, and
``rotate-root`` moves lookups, erasures and the access log on to a new root (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
from contextlib import closing
from datetime import UTC, datetime

import msgspec
import psycopg
import pytest

from application.api_access.access_log import (
    RECHAIN_ROUTE,
    ChainHead,
    ChainNotVerified,
    Checkpoint,
    canonical_bytes,
    chain_hash,
    head_mac,
    seal,
    verify_against,
)
from application.api_access.ports import AccessEntry
from application.key_rotation import ACCESS_LOG_PURPOSE, ERASURES_PURPOSE, rotate_root
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.settings import Settings
from tests.fakes import consent, feedback
from tests.integration.test_key_rotation import (
    DATA_KEY_CONTEXT,
    LEGACY_ROOT_CONTEXT,
    ROOT_CONTEXT,
    SERVICE,
    ingest_people,
    make_legacy,
    opens,
    stored_rows,
    with_key,
)


def request_at(principal: str = "staff") -> AccessEntry:
    return AccessEntry(
        at=datetime.now(UTC),
        principal=principal,
        role="admin",
        method="GET",
        route="/api/x",
        status=200,
        outcome="allowed",
    )


def log_requests(container: Container, count: int) -> None:
    for _ in range(count):
        container.access_log.append(request_at())


def forge_append(settings: Settings, key: bytes) -> None:
    """What a database writer holding ``key`` can do: seal a record after the head and sign the head with it."""
    db = settings.database
    log, head = (
        ("api_access_log", "api_access_head")
        if db.kind == "sqlite"
        else (
            f"{db.schema}.api_access_log",
            f"{db.schema}.api_access_head",
        )
    )
    mark = "?" if db.kind == "sqlite" else "%s"
    conn = sqlite3.connect(db.sibling("audit")) if db.kind == "sqlite" else psycopg.connect(db.url)
    with closing(conn), conn:
        seq, hash_ = conn.execute(f"SELECT seq, hash FROM {head}").fetchone()
        r = seal(request_at("forger"), ChainHead(seq=seq, hash=hash_), key)
        values = list(msgspec.structs.astuple(r))  # AccessRecord's fields are the table's columns, in order
        values[1] = r.at.isoformat() if db.kind == "sqlite" else r.at
        conn.execute(f"INSERT INTO {log} VALUES ({', '.join([mark] * len(values))})", values)
        conn.execute(
            f"UPDATE {head} SET seq = {mark}, hash = {mark}, mac = {mark}",
            (r.seq, r.hash, head_mac(r.seq, r.hash, key)),
        )


def master_derived(master_key: bytes, purpose: bytes) -> bytes:
    """What a holder of ``master_key`` computed for ``purpose`` while it was the root (before issue 13)."""
    return hmac.new(master_key, purpose, hashlib.sha256).digest()


def test_after_rotate_master_the_retired_key_opens_no_data_key_and_forges_no_access_record(settings: Settings) -> None:
    old, new = settings.master_key, os.urandom(32)
    container = bootstrap(settings)
    try:
        ingest_people(container, 3)
        log_requests(container, 3)
        container.keys.rotate_master(new)
    finally:
        container.close()

    keys_after, root_after = stored_rows(settings)
    assert root_after is not None
    assert len(keys_after) == 3
    assert not any(opens(old, w, DATA_KEY_CONTEXT + s.bytes) for s, w in keys_after)
    assert not any(opens(old, root_after, context) for context in (ROOT_CONTEXT, LEGACY_ROOT_CONTEXT))
    forge_append(settings, master_derived(old, ACCESS_LOG_PURPOSE))  # the most the retired key can key

    after = bootstrap(with_key(settings, new))
    try:
        report = after.access_log.verify()
        assert not report.ok
        assert report.first_bad_seq == 4
        assert report.records == 3
    finally:
        after.close()


@pytest.mark.parametrize("legacy", [False, True], ids=["random-root", "root-from-before-issue-13"])
def test_rotate_root_keeps_lookups_and_erasures_and_re_chains_the_access_log_from_a_verified_anchor(
    settings: Settings, legacy: bool
) -> None:
    if legacy:
        make_legacy(settings)
    container = bootstrap(settings)
    try:
        assert container.keys.root_is_legacy == legacy
        users = ingest_people(container, 4)
        subjects = {u: container.keys.subject_for(u, create=False) for u in users}
        erased, kept = users[-1], users[:-1]
        assert container.erasure.erase(erased, requested_by="tests").key_destroyed
        log_requests(container, 3)
        before = container.access_log.verify()
        assert before.ok
        assert before.checkpoint is not None
        old_key = container.keys.derived_secret(ACCESS_LOG_PURPOSE)
        if legacy:
            assert old_key == master_derived(settings.master_key, ACCESS_LOG_PURPOSE)
        report = rotate_root(container.keys, container.erasures, container.access_log, container.clock)
    finally:
        container.close()
    assert (report.roots, report.lookups_rederived, report.erasures_rederived) == (2, 3, 1)
    assert (report.records_verified, report.anchor_seq) == (before.records, before.records + 1)

    after = bootstrap(settings)
    try:
        assert not after.keys.root_is_legacy
        assert after.keys.subjects_for(users) == {u: subjects[u] for u in kept}
        assert all(after.keys.subject_for(u, create=False) == subjects[u] for u in kept)
        assert after.erasures.blocked(users) == {erased}  # erased people stay erased
        late = after.ingestion.ingest(
            [consent(erased, analytics=True), feedback(erased, "back?")], sent_at=None, principal=SERVICE
        )
        assert late.accepted == 0
        assert after.keys.subject_for(erased, create=False) is None

        log_requests(after, 1)
        verified = after.access_log.verify()
        assert verified.ok, verified.problem
        assert verified.records == before.records + 2
        assert verify_against(after.access_log, Checkpoint.parse(before.checkpoint)).ok  # old checkpoints hold
        anchor, newest = after.access_log.page(before.records, 2)
        assert (anchor.seq, anchor.outcome, anchor.route, anchor.role) == (
            report.anchor_seq,
            "rechain",
            RECHAIN_ROUTE,
            "operator",
        )
        assert anchor.prev_hash == before.head_hash
        assert f"re-chained to root 2: records 1-{before.records} verified, head {before.head_hash}" == anchor.about
        # The retired root's key verifies nothing written since: not the anchor, not the next request.
        for record in (anchor, newest):
            assert not hmac.compare_digest(chain_hash(canonical_bytes(record), old_key), record.hash)
        assert after.keys.derived_secret(ERASURES_PURPOSE) != master_derived(settings.master_key, ERASURES_PURPOSE)
    finally:
        after.close()

    forge_append(settings, old_key)  # a database writer holding the retired root's key
    forged = bootstrap(settings)
    try:
        broken = forged.access_log.verify()
        assert not broken.ok
        assert broken.first_bad_seq == before.records + 3
    finally:
        forged.close()


def test_rotate_root_refuses_an_access_log_that_does_not_verify_and_changes_nothing(settings: Settings) -> None:
    container = bootstrap(settings)
    try:
        (user,) = ingest_people(container, 1)
        subject = container.keys.subject_for(user, create=False)
        log_requests(container, 3)
    finally:
        container.close()
    db = settings.database
    if db.kind == "sqlite":
        with closing(sqlite3.connect(db.sibling("audit"))) as conn, conn:
            conn.execute("UPDATE api_access_log SET status = 500 WHERE seq = 2")
    else:
        with psycopg.connect(db.url) as pg:
            pg.execute(f"UPDATE {db.schema}.api_access_log SET status = 500 WHERE seq = 2")

    container = bootstrap(settings)
    try:
        with pytest.raises(ChainNotVerified, match="record 2 does not match its hash"):
            rotate_root(container.keys, container.erasures, container.access_log, container.clock)
        assert len(container.keys.derived_secrets(ACCESS_LOG_PURPOSE)) == 1
        assert container.keys.subject_for(user, create=False) == subject
        assert container.access_log.page(0, 10)[-1].seq == 3
    finally:
        container.close()


def test_an_interrupted_rotate_root_keeps_erased_people_out_and_is_finished_by_running_it_again(
    settings: Settings,
) -> None:
    container = bootstrap(settings)
    try:
        users = ingest_people(container, 2)
        assert container.erasure.erase(users[0], requested_by="tests").key_destroyed
        log_requests(container, 2)
        container.keys.rotate_root()  # the key store's step, then the command stopped
    finally:
        container.close()

    reopened = bootstrap(settings)
    try:
        assert reopened.erasures.blocked(users) == {users[0]}  # the register caught up when opened
        lagging = reopened.access_log.verify()
        assert not lagging.ok
        assert "did not finish" in (lagging.problem or "")
        report = rotate_root(reopened.keys, reopened.erasures, reopened.access_log, reopened.clock)
        assert report.roots == 3
        assert report.records_verified == 3  # two requests and the anchor of the interrupted rotation
        assert reopened.access_log.verify().ok
        assert [r.outcome for r in reopened.access_log.page(0, 10)].count("rechain") == 2
        assert reopened.keys.subject_for(users[1], create=False) is not None
    finally:
        reopened.close()
