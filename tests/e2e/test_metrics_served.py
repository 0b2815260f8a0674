"""``GET /metrics`` of the real ``addvalue serve --workers 2``, read with Prometheus' own exposition parser."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import msgspec
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.served import Served, start_served
from tests.fakes import consent, event
from tests.segment_messages import track

WRITE_KEY = "ios-app-key-" + "m" * 24
OUTCOMES = ("accepted", "duplicate", "rejected", "not_collected")
POOLS = ("events", "daily_counts", "live_activity", "user_days")


def _scraped(served: Served, headers: dict[str, str] | None = None) -> dict[str, dict[tuple[str, ...], float]]:
    response = httpx.get(f"{served.base_url}/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[tuple[str, ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value  # type: ignore[arg-type]
    return samples


def _ingested(served: Served, sent: Counter[str]) -> None:
    """One round of every outcome, on /v1/events and the Segment routes; adds the answers' counts to ``sent``."""
    user, stranger = uuid.uuid4(), uuid.uuid4()
    service = served.bearer("backend", "service")
    as_user = served.bearer(str(user), "user")
    joined = event("wave_joined", user, {"wave_id": "w-1"})
    bad = event("wave_joined", user, {})  # wave_id missing: rejected
    answers = [
        httpx.post(
            f"{served.base_url}/v1/events",
            content=b'{"batch":[' + consent(user, analytics=True) + b"]}",
            headers=service,
        ),
        httpx.post(
            f"{served.base_url}/v1/events", content=b'{"batch":[' + joined + b"," + bad + b"]}", headers=as_user
        ),
        httpx.post(
            f"{served.base_url}/v1/events", content=b'{"batch":[' + joined + b"]}", headers=as_user
        ),  # duplicate
        httpx.post(
            f"{served.base_url}/v1/events",
            content=b'{"batch":[' + event("wave_joined", stranger, {"wave_id": "w-1"}) + b"]}",
            headers=served.bearer(str(stranger), "user"),
        ),  # no consent: not collected
    ]
    basic = {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}
    segment = [track(user_id=user), track(user_id=user, properties={}), track(user_id=stranger)]
    answers.append(
        httpx.post(f"{served.base_url}/v1/batch", content=msgspec.json.encode({"batch": segment}), headers=basic)
    )
    answers.append(httpx.post(f"{served.base_url}/v1/track", content=msgspec.json.encode(segment[0]), headers=basic))
    for answer in answers:
        assert answer.status_code == 200, answer.text
        body = answer.json()
        sent.update(
            accepted=body["accepted"],
            duplicate=body["duplicates"],
            rejected=len(body["rejected"]),
            not_collected=body["not_collected"],
            missing=sum(any(e["message"] == "is required" for e in r["errors"]) for r in body["rejected"]),
        )


def test_the_event_counters_of_two_workers_equal_the_outcomes_sent(backend: str, tmp_path: Path) -> None:
    env = {"ADDVALUE_WRITE_KEYS": f"ios-app={WRITE_KEY}"}
    with start_served(backend, tmp_path, workers=2, env=env) as served:
        sent: Counter[str] = Counter()
        for _ in range(12):  # new connections each time: both workers answer some
            _ingested(served, sent)
        assert all(sent[outcome] > 0 for outcome in OUTCOMES), sent
        for _ in range(4):  # each scrape may be answered by either worker: all give the whole
            counted = _scraped(served)["addvalue_ingest_events_total"]
            assert {o: counted[(("outcome", o),)] for o in OUTCOMES} == {o: float(sent[o]) for o in OUTCOMES}
        scraped = _scraped(served)
        ingest_count = scraped["addvalue_ingest_request_duration_seconds_count"]
        assert ingest_count[(("route", "/v1/events"),)] == 12 * 4
        assert ingest_count[(("route", "/v1/batch"),)] == 12
        lag_count = scraped["addvalue_event_lag_seconds_count"][()]
        assert lag_count >= sent["accepted"]  # every stored event's time to commit is observed
        assert scraped["addvalue_ingest_queue_depth"][()] == 0  # summed over the live workers, all answered
        assert (
            scraped["addvalue_api_request_duration_seconds_count"][(("route", "/v1/events"), ("status", "200"))] == 48
        )
        assert counted[(("outcome", "failed"),)] == 0  # no write failed: no event of a 5xx answer
        missing = scraped["addvalue_ingest_missing_field_events_total"]
        assert sum(missing.values()) == sent["missing"] > 0
        # wave_id missing: one on /v1/events and one on /v1/batch (a track mapped to wave_joined) per round
        assert missing[(("event", "wave_joined"), ("field", "properties.wave_id"))] == 24
        assert scraped["addvalue_db_transaction_seconds_count"][(("kind", "group_commit"),)] > 0
        _assert_pools(scraped["addvalue_db_pool_connections"], backend)


def _assert_pools(figures: dict[tuple[tuple[str, str], ...], float], backend: str) -> None:
    """Every pool of both workers, by state; psycopg_pool's tell waiting callers, eventsourcing's (SQLite) not."""
    by_pool: dict[str, dict[str, float]] = {}
    for labels, value in figures.items():
        found = dict(labels)
        by_pool.setdefault(found["pool"], {})[found["state"]] = value
    expected = {*POOLS, "shared"} if backend == "postgres" else set(POOLS)
    assert set(by_pool) == expected
    states = {"idle", "in_use", "waiting", "max"} if backend == "postgres" else {"idle", "in_use", "max"}
    for pool, counts in by_pool.items():
        assert set(counts) == states, pool
        assert min(counts.values()) >= 0, pool
        assert 0 < counts["idle"] + counts["in_use"] <= counts["max"], (pool, counts)


def test_with_a_metrics_token_a_scrape_needs_it(tmp_path: Path) -> None:
    token = "scrape-" + uuid.uuid4().hex
    with start_served("sqlite", tmp_path, env={"ADDVALUE_METRICS_TOKEN": token}) as served:
        assert httpx.get(f"{served.base_url}/metrics").status_code == 401
        wrong = httpx.get(f"{served.base_url}/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert "addvalue_ingest_events_total" in _scraped(served, {"Authorization": f"Bearer {token}"})


def test_a_separate_worker_process_shows_in_the_same_scrape(tmp_path: Path) -> None:
    env = {"ADDVALUE_SERVE_PROJECTIONS": "false", "ADDVALUE_PROJECTION_INTERVAL_SECONDS": "0.2"}
    with start_served("sqlite", tmp_path, workers=2, env=env) as served:
        worker = subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli", "worker", "--no-jobs"],
            env=served.env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline, lag = time.monotonic() + 60, {}
            while time.monotonic() < deadline and not lag:
                lag = _scraped(served).get("addvalue_projection_lag_events", {})
                time.sleep(0.2)
            assert set(lag) == {(("projection", p),) for p in ("daily_counts", "live_activity", "user_days")}
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        # The worker is gone: its live gauges are swept at the next scrape.
        assert "addvalue_projection_lag_events" not in _scraped(served)
