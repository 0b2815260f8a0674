"""The data-quality jobs on SQLite and PostgreSQL: results recorded, kept through erasure and rebuilds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families

from application.principals import Principal
from entrypoints.bootstrap import Container
from tests.fakes import consent, event

SERVICE = Principal(subject="tests", role="service")
YESTERDAY = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)


def send(container: Container, *raw: bytes) -> None:
    report = container.ingestion.ingest(list(raw), sent_at=None, principal=SERVICE)
    assert report.accepted == len(raw), report


def check(container: Container, name: str) -> dict[str, object]:
    report = container.quality.quality_on(YESTERDAY.date())
    assert report is not None
    (found,) = [c for c in report.checks if c.check == name]
    return {"passed": found.passed, "figures": found.figures}


def test_the_daily_job_records_the_checks_and_scores_of_the_day(container: Container) -> None:
    anna, ben = uuid.uuid4(), uuid.uuid4()
    at = YESTERDAY
    send(container, consent(anna, analytics=True, at=at), consent(ben, analytics=True, at=at))
    send(
        container,
        event("activation_started", anna, {"activation_id": "a1"}, at=at + timedelta(minutes=1)),
        event(
            "activation_round_completed",
            anna,
            {"activation_id": "a1", "round": 1, "duration_seconds": 60},
            at=at + timedelta(minutes=2),
        ),
        event(
            "activation_completed", anna, {"activation_id": "a1", "duration_seconds": 300}, at=at + timedelta(minutes=3)
        ),
    )
    report = container.jobs.run("data-quality", YESTERDAY.date())
    assert (report.status, report.rows) == ("succeeded", 1)
    assert check(container, "sequences") == {"passed": 1.0, "figures": {}}
    assert check(container, "recount") == {"passed": 1.0, "figures": {}}  # the read model agrees with the log

    # Ben's completion of an activation he never started: out of sequence, and an unknown activation.
    send(container, event("activation_completed", ben, {"activation_id": "b9", "duration_seconds": 5}, at=at))
    assert container.jobs.run("data-quality", YESTERDAY.date()).status == "succeeded"
    # examined: the round and two completions; one of them broken
    assert check(container, "sequences") == {"passed": 0.6667, "figures": {"activation_completed_out_of_sequence": 1}}
    assert check(container, "references")["figures"] == {"unknown_activation": 1}
    recorded = container.quality.quality_on(YESTERDAY.date())
    assert recorded is not None
    assert recorded.scores["accuracy"] < 100

    # The record names no one: erasing Ben and rebuilding every read model leaves it as it was.
    container.erasure.erase(ben, requested_by="test")
    for projection in container.projections.values():
        projection.rebuild()
    assert container.quality.quality_on(YESTERDAY.date()) == recorded
    assert container.quality.quality_series(YESTERDAY.date() - timedelta(days=3), YESTERDAY.date()) == [recorded]


def test_the_hourly_job_checks_the_hour_before(container: Container) -> None:
    report = container.jobs.run("data-quality-hourly")
    assert report.status == "succeeded"
    latest = container.quality.latest_hour()
    assert latest is not None
    assert latest.period == report.period
    assert set(latest.scores) == {"completeness", "accuracy", "timeliness", "consistency"}


def test_the_scores_are_exported_as_a_gauge(container: Container) -> None:
    assert container.jobs.run("data-quality", YESTERDAY.date()).status == "succeeded"
    families = {f.name: f for f in text_string_to_metric_families(container.metrics.exposition().decode())}
    scores = {s.labels["dimension"]: s.value for s in families["addvalue_data_quality_score"].samples}
    recorded = container.quality.quality_on(YESTERDAY.date())
    assert recorded is not None
    assert scores == recorded.scores
