"""The app's database as a source: rows emitted in its transactions reach the store once, whatever happens.

The app's database is a second PostgreSQL database (``tests/app_database.py``);
the service's store runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

import msgspec
import psycopg
import pytest

from adapters.sources.outbox_postgres import OutboxNotInstalled, PostgresOutbox, install, uninstall
from application.observability.ports import IngestOutcomeCounts, NoMetrics
from application.sources.outbox import OutboxRelay, outbox_lags
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.settings import Settings
from entrypoints.settings_sources import OutboxSettings
from tests.alert_receivers import wait_for
from tests.app_database import AppDatabase, app_db, service_environment
from tests.fakes import consent, event

__all__ = ["app_db"]  # the fixture, used by name

pytestmark = pytest.mark.postgres


def _relay(container: Container, db: AppDatabase) -> int:
    return OutboxRelay(container.ingestion).relay(PostgresOutbox(db.url))


def _stored(container: Container) -> Counter[str]:
    """Collected events by name, as the daily counts read model has them (each stored event counted once)."""
    container.daily_counts.catch_up()
    totals: Counter[str] = Counter()
    for (_, name), n in container.daily_counts_view.counts().items():
        totals[name] += n
    return totals


def test_a_sign_up_emitted_by_a_trigger_is_stored_and_counted(container: Container, app_db: AppDatabase) -> None:
    db = app_db.with_triggers()
    person, other = uuid.uuid4(), uuid.uuid4()
    db.emit(consent(person, analytics=True), consent(other, analytics=True))
    db.execute(
        "INSERT INTO auth.users (id, email, raw_app_meta_data) VALUES (%s, 'a@example.org', %s)",
        (person, '{"provider": "apple"}'),
    )
    db.execute("INSERT INTO public.follows VALUES (%s, %s)", (person, other))

    assert _relay(container, db) == 4
    assert [state for state, _ in db.rows()] == ["delivered"] * 4
    assert _stored(container) == {"user_consent_update": 2, "user_signup": 1, "user_followed": 1}
    assert PostgresOutbox(db.url).status().delivered == 4


def test_rows_emitted_while_the_pipeline_was_stopped_are_all_stored_once(
    container: Container, app_db: AppDatabase
) -> None:
    install(app_db.url)
    person = uuid.uuid4()
    app_db.emit(consent(person, analytics=True))
    moods = [event("activation_mood_logged", person, _mood(i)) for i in range(1000)]
    for start in range(0, 1000, 250):  # several app transactions
        app_db.emit(*moods[start : start + 250])
    assert PostgresOutbox(app_db.url).status().pending == 1001

    assert _relay(container, app_db) == 1001
    assert _relay(container, app_db) == 0  # nothing left, nothing sent twice
    assert _stored(container)["activation_mood_logged"] == 1000
    status = PostgresOutbox(app_db.url).status()
    assert (status.pending, status.delivered, status.rejected) == (0, 1001, 0)


def test_a_relay_killed_between_ingest_and_marking_stores_nothing_twice(
    settings: Settings, container: Container, app_db: AppDatabase, tmp_path: Path
) -> None:
    install(app_db.url)
    person = uuid.uuid4()
    app_db.emit(
        consent(person, analytics=True), *(event("activation_mood_logged", person, _mood(i)) for i in range(50))
    )

    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_AFTER_INGEST, app_db.url],
        env=service_environment(settings, tmp_path),
        cwd=tmp_path,
        capture_output=True,
        check=False,
    )
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    assert PostgresOutbox(app_db.url).status().pending == 51  # never marked: its transaction died with it
    assert _stored(container)["activation_mood_logged"] == 50  # but ingested

    outcomes = _Outcomes()
    assert OutboxRelay(container.ingestion, outcomes=outcomes).relay(PostgresOutbox(app_db.url)) == 51
    assert (outcomes.seen["accepted"], outcomes.seen["duplicate"]) == (0, 51)  # the ledger knew them all
    assert _stored(container)["activation_mood_logged"] == 50
    assert PostgresOutbox(app_db.url).status().delivered == 51


def test_a_malformed_row_is_rejected_with_its_reasons_on_the_row_and_in_quarantine(
    container: Container, app_db: AppDatabase
) -> None:
    install(app_db.url)
    person = uuid.uuid4()
    broken = json.loads(event("activation_round_completed", person, {"activation_id": "a", "round": 9}))
    app_db.emit(consent(person, analytics=True), json.dumps(broken).encode(), b"[1, 2]")

    assert _relay(container, app_db) == 3
    (first, _), (second, reasons), (third, not_object) = app_db.rows()
    assert (first, second, third) == ("delivered", "rejected", "rejected")
    assert reasons == [{"path": "properties.round", "message": "must be an integer between 1 and 8"}]
    assert not_object == [{"path": "", "message": "must be an object, got array"}]
    kept = [e for e in container.quarantine.entries() if e.source == f"outbox:{PostgresOutbox(app_db.url).name}"]
    assert sorted(r.message for e in kept for r in e.reasons) == [
        "must be an integer between 1 and 8",
        "must be an object, got array",
    ]
    assert PostgresOutbox(app_db.url).status().rejected == 2


def test_a_row_emitted_in_a_transaction_that_rolls_back_never_arrives(
    container: Container, app_db: AppDatabase
) -> None:
    db = app_db.with_triggers()
    person = uuid.uuid4()
    db.emit(consent(person, analytics=True))
    with psycopg.connect(db.url) as conn:
        conn.execute("INSERT INTO auth.users (id) VALUES (%s)", (person,))  # its trigger emits user_signup
        conn.execute(
            "SELECT addvalue_outbox.emit(%s::jsonb)", (event("user_login", person, {"method": "apple"}).decode(),)
        )
        conn.rollback()

    assert _relay(container, db) == 1
    assert _stored(container) == {"user_consent_update": 1}
    assert len(db.rows()) == 1


def test_a_committed_emit_wakes_the_follower_and_a_rolled_back_one_does_not(app_db: AppDatabase) -> None:
    install(app_db.url)
    outbox = PostgresOutbox(app_db.url)
    try:
        assert outbox.wait(0) is False  # listening from here on
        with psycopg.connect(app_db.url) as conn:
            conn.execute("SELECT addvalue_outbox.emit('{}'::jsonb)")
            conn.rollback()
        assert outbox.wait(1.0) is False  # a rolled-back transaction notifies no one
        app_db.emit(b"{}")
        assert outbox.wait(30.0) is True
    finally:
        outbox.close()


def test_delivered_rows_are_purged_after_the_retention_and_pending_ones_never(
    container: Container, app_db: AppDatabase
) -> None:
    install(app_db.url)
    person = uuid.uuid4()
    app_db.emit(consent(person, analytics=True), b'{"event_name": "nonesuch"}')
    _relay(container, app_db)
    app_db.emit(consent(person, analytics=False))
    outbox = PostgresOutbox(app_db.url)
    assert outbox.purge(timedelta(hours=24)) == 0
    app_db.execute("UPDATE addvalue_outbox.events SET handled_at = now() - interval '25 hours'")
    assert outbox.purge(timedelta(hours=24)) == 1  # the delivered row; the rejected one stays, to be looked at
    assert [state for state, _ in app_db.rows()] == ["rejected", "pending"]


def test_the_oldest_pending_row_is_pipeline_lag_for_alerting(settings: Settings, app_db: AppDatabase) -> None:
    install(app_db.url)
    app_db.emit(consent(uuid.uuid4(), analytics=True))
    app_db.execute("UPDATE addvalue_outbox.events SET emitted_at = now() - interval '6 minutes'")
    outbox = PostgresOutbox(app_db.url)
    assert outbox_lags([outbox])[outbox.name] == pytest.approx(360, abs=30)
    with bootstrap(msgspec.structs.replace(settings, outbox=OutboxSettings(urls=(app_db.url,)))) as container:
        fired = container.alerting.evaluate()
        assert [(t.alert, t.to) for t in fired] == [("Pipeline Lag", "firing")]
        assert fired[0].values["processing_lag"] == pytest.approx(360, abs=30)
        _relay(container, app_db)
        for projection in container.projections.values():
            projection.catch_up()
        assert [(t.alert, t.to) for t in container.alerting.evaluate()] == [("Pipeline Lag", "resolved")]


def test_install_twice_is_harmless_and_uninstall_refuses_while_triggers_call_emit(app_db: AppDatabase) -> None:
    db = app_db.with_triggers()
    install(db.url)
    assert uninstall(db.url) == ["public.addvalue_user_followed()", "public.addvalue_user_signup()"]
    assert db.execute("SELECT count(*) FROM addvalue_outbox.events") == [(0,)]
    assert uninstall(db.url, force=True) == []
    with pytest.raises(OutboxNotInstalled, match="addvalue outbox install"):
        PostgresOutbox(db.url).status()


class _Outcomes(NoMetrics):
    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    def ingest_outcomes(self, counts: IngestOutcomeCounts) -> None:
        self.seen.update(counts.by_outcome())


def _mood(i: int) -> dict[str, object]:
    return {"activation_id": f"act-{i}", "phase": "start", "mood": 1 + i % 10}


# Ingests one batch, then dies by SIGKILL before the rows are marked: as a crash or an OOM kill would.
_KILLED_AFTER_INGEST = """
import os, signal, sys
from adapters.sources.outbox_postgres import PostgresOutbox
from application.sources.outbox import OutboxRelay
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import load_settings

with bootstrap(load_settings()) as container:
    relay, outbox = OutboxRelay(container.ingestion), PostgresOutbox(sys.argv[1])

    def judge_then_die(rows):
        relay.judge(outbox.name, rows)
        os.kill(os.getpid(), signal.SIGKILL)

    outbox.deliver(1000, judge_then_die)
"""


def test_the_services_follower_relays_under_the_jobs_lease_and_counts_the_outcomes(
    settings: Settings, app_db: AppDatabase
) -> None:
    install(app_db.url)
    app_db.emit(consent(uuid.uuid4(), analytics=True), b'{"event_name": "nonesuch"}')
    outbox = PostgresOutbox(app_db.url)
    chosen = msgspec.structs.replace(settings, outbox=OutboxSettings(urls=(app_db.url,)))
    with bootstrap(chosen) as container:
        assert container.outbox_loop is not None
        container.outbox_loop.start()
        try:
            wait_for(lambda: outbox.status().pending == 0, what="both rows handled")
        finally:
            container.outbox_loop.stop()
        assert (outbox.status().delivered, outbox.status().rejected) == (1, 1)
        exposition = container.metrics.exposition().decode()
        assert 'addvalue_ingest_events_total{outcome="rejected"} 1.0' in exposition
        assert f'addvalue_outbox_rows{{outbox="{outbox.name}",state="rejected"}} 1.0' in exposition
        error_rate = wait_for(
            lambda: container.alerting.test("High Event Error Rate", send=False)["values"]["error_rate"],  # type: ignore[index]
            what="the outcomes in the alert signals",
        )
        assert error_rate == 0.5  # one of the two rows submitted was rejected
        with bootstrap(chosen) as other:  # a second process: the lease is taken, it leaves the outbox alone
            assert other.leases.hold("jobs") is False
