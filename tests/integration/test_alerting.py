"""Alerting on the seed's own alert file, with time driven by an injected clock (SQLite and PostgreSQL).

The seed's thresholds (5 minutes of lag, windows of 5 minutes and 1 hour,
repeats every 4 hours) would take that long on the wall clock; here the
clock is moved. Receivers are real: an HTTP server and an SMTP server.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any, cast

import msgspec
import pytest
import yaml

from adapters.alerting.tables import build_alert_tables
from application.alerting.ports import Silence
from application.alerting.rules import AlertConfig, rules_from
from application.alerting.signals import ServiceSignals
from application.principals import Principal
from application.reporting.jobs import Jobs
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.overrides import Overrides
from entrypoints.settings import Settings
from tests.alert_receivers import Mailbox, free_port, http_receiver, smtp_server, wait_for
from tests.fakes import FixedClock, consent, event

SERVICE = Principal(role="service", subject="test-service")


def seed_file_with(receivers: dict[str, list[dict[str, str]]]) -> AlertConfig:
    """The default alert file shipped in the repository (the seed's four alerts), with these receivers."""
    text = resources.files("adapters.alerting").joinpath("default-alerts.yaml").read_text()
    document: dict[str, Any] = yaml.safe_load(text)
    document["receivers"] = {"data_team": [], "engineering_team": [], "on_call": [], **receivers}
    return rules_from(document, "the seed's file")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.now(UTC))


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


def _container(settings: Settings, clock: FixedClock, config: AlertConfig, mailbox: Mailbox) -> Container:
    smtp = f"smtp://127.0.0.1:{mailbox.port}"
    return bootstrap(msgspec.structs.replace(settings, alerts=config, smtp_url=smtp), overrides=Overrides(clock=clock))


def _catch_up(container: Container) -> None:
    for projection in container.projections.values():
        projection.catch_up()


def test_pipeline_lag_fires_after_five_minutes_behind_and_resolves_once_caught_up(
    settings: Settings, clock: FixedClock, mailbox: Mailbox
) -> None:
    with http_receiver() as hook:
        config = seed_file_with({"engineering_team": [{"webhook": hook.url("/eng")}]})
        with _container(settings, clock, config, mailbox) as container:
            user = uuid.uuid4()
            container.ingestion.ingest([consent(user, analytics=True)], sent_at=None, principal=SERVICE)
            clock.advance(minutes=4)
            assert container.alerting.evaluate() == []  # 4 minutes behind: not yet
            clock.advance(minutes=2)
            fired = container.alerting.evaluate()
            assert [(t.alert, t.to) for t in fired] == [("Pipeline Lag", "firing")]
            assert fired[0].values["processing_lag"] == pytest.approx(360, abs=30)
            assert container.alerting.deliver() == (1, 0)
            _catch_up(container)
            assert [(t.alert, t.to) for t in container.alerting.evaluate()] == [("Pipeline Lag", "resolved")]
            container.alerting.deliver()
            assert [b["status"] for b in hook.bodies("/eng")] == ["firing", "resolved"]
            assert hook.bodies("/eng")[0]["receiver"] == "engineering_team"


class _FailingDaily:
    """A daily job named as the close-day job, that fails: run by the real job runner, recorded as failed."""

    name = "close-day"
    schedule = "0 2 * * *"
    cadence = "day"
    description = "fails"

    def __init__(self) -> None:
        self.fail = True

    def run(self, period: str) -> int:
        if self.fail:
            raise RuntimeError("the view is unreadable")
        return 1


def test_batch_job_failure_emails_on_call_and_resolves_when_the_rerun_succeeds(
    settings: Settings, clock: FixedClock, mailbox: Mailbox
) -> None:
    config = seed_file_with({"on_call": [{"email": "on-call@example.org"}]})
    with _container(settings, clock, config, mailbox) as container:
        job = _FailingDaily()
        jobs = Jobs(container.store, [job], clock)  # type: ignore[list-item]
        yesterday = (clock.now() - timedelta(days=1)).date().isoformat()
        assert jobs.run("close-day", yesterday).status == "failed"
        assert [(t.alert, t.to) for t in container.alerting.evaluate()] == [("Batch Job Failure", "firing")]
        container.alerting.deliver()
        job.fail = False
        assert jobs.run("close-day", yesterday).status == "succeeded"
        _catch_up(container)
        assert [(t.alert, t.to) for t in container.alerting.evaluate()] == [("Batch Job Failure", "resolved")]
        container.alerting.deliver()
    subjects = [m["Subject"] for m in mailbox.messages]
    assert subjects == ["[FIRING] Batch Job Failure (critical)", "[RESOLVED] Batch Job Failure (critical)"]
    assert "daily_job_failed=1" in mailbox.messages[0].get_payload()


def _errors(container: Container, clock: FixedClock, *, rejected: int, total: int) -> None:
    """``rejected`` of ``total`` events counted as rejected now, as the group commit's tally counts them."""
    second = int(clock.now().timestamp())
    container.alerting.outbox.add(second, {"rejected": rejected, "accepted": total - rejected})  # type: ignore[attr-defined]


def test_a_receiver_down_for_a_while_gets_every_notification_once_it_is_back_none_twice(
    settings: Settings, clock: FixedClock, mailbox: Mailbox
) -> None:
    port = free_port()  # nothing listens there yet
    config = seed_file_with({"data_team": [{"webhook": f"http://127.0.0.1:{port}/data"}]})
    with _container(settings, clock, config, mailbox) as container:
        alerting = container.alerting
        for _ in range(2):  # fires, resolves, fires again, all while the receiver is down
            _errors(container, clock, rejected=5, total=100)
            alerting.tick()
            clock.advance(minutes=6)
            _catch_up(container)
            alerting.tick()
        _errors(container, clock, rejected=5, total=100)
        alerting.tick()
        for _ in range(5):  # still firing 4 hours later: one repeat, from the history
            clock.advance(minutes=50)
            _errors(container, clock, rejected=5, total=100)
            _catch_up(container)
            alerting.tick()
        assert all(n.delivered_at is None and n.attempts >= 1 for n in alerting.outbox.recent())
        with http_receiver(port) as hook:
            clock.advance(minutes=6)  # past the longest wait between attempts
            assert alerting.deliver() == (6, 0)
            clock.advance(minutes=6)
            assert alerting.deliver() == (0, 0)
        statuses = [b["status"] for b in hook.bodies("/data")]
        assert statuses == ["firing", "resolved", "firing", "resolved", "firing", "firing"]
        starts = [b["alerts"][0]["startsAt"] for b in hook.bodies("/data")]
        assert starts[4] == starts[5]  # the repeat of the same firing


def test_a_silence_stops_notifications_not_evaluation(settings: Settings, clock: FixedClock, mailbox: Mailbox) -> None:
    with http_receiver() as hook:
        config = seed_file_with({"data_team": [{"webhook": hook.url("/data")}]})
        with _container(settings, clock, config, mailbox) as container:
            now = clock.now()
            matchers: list[dict[str, str | bool]] = [{"name": "alertname", "value": "High Event.*", "regex": True}]
            container.alerting.silence(
                Silence(
                    id="s1", matchers=matchers, starts_at=now, ends_at=now + timedelta(hours=1), author="a", comment="c"
                )
            )
            _errors(container, clock, rejected=5, total=100)
            container.alerting.tick()
            states = {s.name: s.state for s in container.alerting.states()}
            assert states["High Event Error Rate"] == "firing"
            assert hook.bodies("/data") == []
            assert container.alerting.outbox.recent() == []


def test_the_group_commit_counts_outcomes_for_the_error_rate(
    settings: Settings, clock: FixedClock, mailbox: Mailbox
) -> None:
    with _container(settings, clock, seed_file_with({}), mailbox) as container:
        user = uuid.uuid4()
        container.group_commit.start()
        try:
            prepare = container.ingestion.prepare
            container.group_commit.submit(
                prepare([consent(user, analytics=True)], sent_at=None, principal=SERVICE)
            ).result()
            batch = [event("wave_joined", user, {"wave_id": "w"}) for _ in range(48)] + [
                event("wave_joined", user, {}) for _ in range(2)
            ]
            container.group_commit.submit(prepare(batch, sent_at=None, principal=SERVICE)).result()
            container.group_commit.submit(prepare(batch[:1], sent_at=None, principal=SERVICE)).result()
        finally:
            container.group_commit.stop()

        def read() -> dict[str, Any] | None:
            found = container.alerting.test("High Event Error Rate", send=False)
            return found if found and found["values"]["error_rate"] is not None else None

        values = wait_for(read, seconds=30, what="the outcome counts written")["values"]
        assert values["error_rate"] == pytest.approx(2 / 52)
        quality = container.alerting.test("Data Quality Issue", send=False)
        assert quality is not None
        assert quality["values"] == {"null_rate": pytest.approx(2 / 52), "duplicate_rate": pytest.approx(1 / 52)}


def test_latest_runs_read_by_several_threads_while_runs_are_recorded_never_change_an_answer_given(
    settings: Settings, clock: FixedClock, mailbox: Mailbox
) -> None:
    """The alert loop and the pipeline page's threads read the latest runs at once (signals._LatestRuns)."""
    with _container(settings, clock, seed_file_with({}), mailbox) as container:
        job = _FailingDaily()
        jobs = Jobs(container.store, [job], clock)  # type: ignore[list-item]
        yesterday = (clock.now() - timedelta(days=1)).date().isoformat()
        assert jobs.run("close-day", yesterday).status == "failed"
        held = container.signals.failed_jobs(), container.signals._runs.latest()
        answers, errors = [], []

        def read() -> None:
            try:
                for _ in range(20):
                    answers.append(container.signals._runs.latest())
            except Exception as e:  # any failure of a reader is the finding
                errors.append(e)

        readers = [threading.Thread(target=read) for _ in range(4)]
        for reader in readers:
            reader.start()
        job.fail = False
        for _ in range(5):
            assert jobs.run("close-day", yesterday).status == "succeeded"
        for reader in readers:
            reader.join()
        assert errors == []
        assert held == ({"close-day"}, {"close-day": "failed"})  # what was handed out stays as it was
        assert container.signals.failed_jobs() == set()
        assert all(answer.get("close-day") in {"failed", "succeeded"} for answer in answers)


def test_the_ingest_outcomes_of_many_windows_read_at_once_are_what_each_window_read_alone_says(
    settings: Settings,
) -> None:
    tables = build_alert_tables(settings.database)
    try:
        signals = ServiceSignals(cast(Any, None), tables, [], cast(Any, None))
        first, step = datetime(2026, 12, 3, 10, 0, tzinfo=UTC), timedelta(minutes=5)
        start = int(first.timestamp())
        tables.add(start - 1, {"accepted": 100})  # just before the first window: in none
        tables.add(start, {"accepted": 3, "rejected": 1})
        tables.add(start + 299, {"duplicate": 2})  # the first window's last second
        tables.add(start + 300, {"accepted": 4})  # the second's first
        tables.add(start + 3 * 300 - 1, {"failed": 5, "rejected_missing": 1})
        tables.add(start + 3 * 300, {"accepted": 100})  # just after the third window: in none
        at_once = signals.ingest_per(first, step, 3)
        alone = [signals.ingest(step, first + (k + 1) * step - timedelta(seconds=1)) for k in range(3)]
        assert at_once == alone
        assert [w["submitted_events"] for w in at_once] == [6.0, 4.0, 5.0]
        assert at_once[0]["error_rate"] == pytest.approx(1 / 6)
        assert at_once[2]["null_rate"] == pytest.approx(1 / 5)
        before = signals.ingest(step, first - 9 * step - timedelta(seconds=1))
        assert signals.ingest_per(first - 10 * step, step, 2) == [before, before]
    finally:
        tables.close()
