"""Server-side sources (issue 14, item 4): many people per batch, over any connection, to several workers.

A backend or a Segment forwarder sends one batch with events of many people, and the next batch of
the same people over another connection, so two serve workers append to the same session streams at
the same moment. Every answer must be 200 and every event stored exactly once.
"""

from __future__ import annotations

import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx

from domain.session import Session
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import load_settings
from tests.e2e.served import Served, start_served
from tests.fakes import consent, feedback

PEOPLE = 12
CONNECTIONS = 12
REQUESTS_PER_CONNECTION = 25
BATCH = 40


def _post(client: httpx.Client, service: Served, raw: list[bytes], headers: dict[str, str]) -> httpx.Response:
    return client.post(service.base_url + "/v1/events", content=b'{"batch":[' + b",".join(raw) + b"]}", headers=headers)


def _send_mixed(service: Served, people: list[uuid.UUID], seed: int, headers: dict[str, str]) -> tuple[list[int], int]:
    """One connection's mixed batches: each event from any of the people, all in their one session."""
    rng = random.Random(seed)
    statuses, accepted = [], 0
    with httpx.Client(timeout=60) as client:
        for _ in range(REQUESTS_PER_CONNECTION):
            raw = [feedback(rng.choice(people), "mixed") for _ in range(BATCH)]
            answer = _post(client, service, raw, headers)
            statuses.append(answer.status_code)
            if answer.status_code == 200:
                accepted += answer.json()["accepted"]
    return statuses, accepted


def test_mixed_batches_to_two_workers_are_all_answered_200_and_stored_once(backend: str, tmp_path: Path) -> None:
    people = [uuid.uuid4() for _ in range(PEOPLE)]
    limits = {"ADDVALUE_RATE_LIMIT_USER": "0", "ADDVALUE_SERVE_PROJECTIONS": "false"}
    with start_served(backend, tmp_path, workers=2, env=limits) as service:
        headers = {**service.bearer("backend", "service"), "Content-Type": "application/json"}
        with httpx.Client(timeout=60) as client:
            at = datetime.now(UTC)
            first = _post(client, service, [consent(p, analytics=True, at=at) for p in people], headers)
            assert first.status_code == 200, first.text
        with ThreadPoolExecutor(CONNECTIONS) as pool:
            results = list(pool.map(lambda seed: _send_mixed(service, people, seed, headers), range(CONNECTIONS)))
        statuses = [s for connection, _ in results for s in connection]
        assert statuses.count(200) == len(statuses), (sorted(set(statuses)), service.output()[-3000:])
        sent = CONNECTIONS * REQUESTS_PER_CONNECTION * BATCH
        assert sum(accepted for _, accepted in results) == sent
        # Read back while the service still runs (its schema goes when it stops): nothing lost, nothing twice.
        assert _tracked_in_sessions(service, people) == sent + PEOPLE  # every feedback, and each person's consent


def _tracked_in_sessions(service: Served, people: list[uuid.UUID]) -> int:
    container = bootstrap(load_settings(service.env))
    try:
        tracked = 0
        for person in people:
            subject = container.keys.subject_for(person, create=False)
            assert subject is not None
            tracked += container.store.repository.get(Session.create_id(subject, "session-1")).event_count
        return tracked
    finally:
        container.close()
