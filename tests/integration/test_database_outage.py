"""The service while its database is down, and after it is back, without a restart of the service.

Each test crashes a private PostgreSQL cluster (bench/pg_cluster.py: its own
folder and port, never the shared one) under the real app, driven in-process.
Requests go through a thread with a deadline, so a request that hangs fails
the test in seconds instead of blocking it for the pools' timeouts.
bench/fault_ingest.py does the same under load, with repeated crashes.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import httpx
import pytest
from litestar.testing import TestClient

from adapters.database_url import parse_database_url
from bench.pg_cluster import PgCluster, find_bin_dir
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.fakes import consent, feedback

pytestmark = pytest.mark.skipif(
    find_bin_dir() is None,
    reason="needs the PostgreSQL server binaries (initdb, postgres) to run a private cluster; "
    "install postgresql or set ADDVALUE_PG_BINDIR",
)

# A refused connection is known at once: an answer to a client should not take longer than this.
PROMPT_SECONDS = 3.0
# After the database is back: time for the pools to reconnect, resending as Retry-After asks.
RECOVERY_SECONDS = 10.0
MASTER_KEY = os.urandom(32)


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    created = PgCluster.create()
    try:
        created.start()
        yield created
    finally:
        created.remove()


@dataclass
class Service:
    """The real app in-process, on the private cluster, with a service token."""

    container: Container
    client: TestClient  # type: ignore[type-arg]
    headers: dict[str, str]
    threads: ThreadPoolExecutor

    def within(self, seconds: float, request: Callable[[], httpx.Response]) -> httpx.Response | None:
        """The answer, or None if it did not come within ``seconds`` (the request goes on in its thread)."""
        try:
            return self.threads.submit(request).result(timeout=seconds)
        except FutureTimeout:
            return None

    def post(self, body: bytes, within: float = PROMPT_SECONDS) -> httpx.Response | None:
        return self.within(within, lambda: self.client.post("/v1/events", content=body, headers=self.headers))

    def ready(self, within: float = PROMPT_SECONDS) -> httpx.Response | None:
        return self.within(within, lambda: self.client.get("/ready"))


@pytest.fixture
def service(cluster: PgCluster) -> Iterator[Service]:
    if not cluster.running():
        cluster.start()
    # One master key for the module: the tests share the cluster's key store, which checks the key at start.
    settings = Settings(database=parse_database_url(cluster.url), master_key=MASTER_KEY, jwt_secret="x" * 40)
    container = bootstrap(settings)
    threads = ThreadPoolExecutor(max_workers=8, thread_name_prefix="outage-client")
    headers = {"Authorization": f"Bearer {container.tokens.mint('outage-test', 'service')}"}
    with TestClient(app=create_app(container, run_jobs=False)) as client:
        try:
            yield Service(container, client, headers, threads)
        finally:
            # The next test needs the database. Closing the pools before leaving the
            # client fails any request still waiting for a connection at once, so the
            # app's shutdown does not wait out the pools' 30 s timeouts.
            if not cluster.running():
                cluster.start()
            container.close()
    threads.shutdown(wait=False, cancel_futures=True)


def batch(*events: bytes) -> bytes:
    return b'{"batch":[' + b",".join(events) + b"]}"


def consenting_user(service: Service) -> uuid.UUID:
    user = uuid.uuid4()
    answer = service.post(batch(consent(user, analytics=True)))
    assert answer is not None
    assert answer.status_code == 200, answer.text
    return user


def test_a_batch_gets_503_while_the_database_is_down_and_is_stored_once_it_is_back(
    cluster: PgCluster, service: Service
) -> None:
    body = batch(feedback(consenting_user(service), "sent during the outage"))
    cluster.crash("all")

    down = service.post(body)
    assert down is not None, f"no answer within {PROMPT_SECONDS} s while the database is down"
    assert down.status_code == 503, down.text
    assert down.headers.get("retry-after") == "1"
    assert down.json()["error"] == "storage unavailable"

    cluster.start()
    # A client resends the same bytes after Retry-After; the service reconnects on its own.
    deadline, answers = time.monotonic() + RECOVERY_SECONDS, []
    while time.monotonic() < deadline:
        again = service.post(body, within=max(deadline - time.monotonic(), 0.1))
        answers.append(None if again is None else again.status_code)
        if again is not None and again.status_code == 200:
            break
        assert again is None or again.status_code == 503, again.text
        time.sleep(0.2)
    assert answers[-1] == 200, f"not stored within {RECOVERY_SECONDS} s of the restart; answers: {answers}"
    # The 503 stored nothing: the resend is a first write, not a duplicate.
    assert again is not None
    assert again.json() == {"accepted": 1, "duplicates": 0, "rejected": [], "not_collected": 0}

    ready = service.ready()
    assert ready is not None
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready"}


def test_ready_answers_503_promptly_while_the_database_is_down(cluster: PgCluster, service: Service) -> None:
    before = service.ready()
    assert before is not None
    assert before.status_code == 200
    cluster.crash("all")

    down = service.ready()
    assert down is not None, f"/ready did not answer within {PROMPT_SECONDS} s while the database is down"
    assert down.status_code == 503, down.text
    assert down.json() == {"status": "database unreachable"}


def test_every_resend_during_an_outage_is_answered_503_promptly(cluster: PgCluster, service: Service) -> None:
    body = batch(feedback(consenting_user(service), "resent during the outage"))
    cluster.crash("all")

    # More resends than the pools hold connections: the first ones fail fast on a dead socket.
    for attempt in range(1, 11):
        down = service.post(body)
        assert down is not None, f"resend {attempt} not answered within {PROMPT_SECONDS} s (database down)"
        assert down.status_code == 503, down.text
        assert down.headers.get("retry-after") == "1"
        time.sleep(0.2)


def test_api_reads_are_answered_503_promptly_during_an_outage_and_200_once_it_is_back(
    cluster: PgCluster, service: Service
) -> None:
    """Per-person reads run on the event loop's thread: a dead database must not hold it, nor the answers."""
    person = consenting_user(service)
    mine = {"Authorization": f"Bearer {service.container.tokens.mint(str(person), 'user')}"}
    analyst = {"Authorization": f"Bearer {service.container.tokens.mint('outage-analyst', 'analyst')}"}
    routes = [
        (f"/api/metrics/user-activity?user_id={person}", mine),
        ("/api/realtime/dau", analyst),
        ("/api/dashboard/active-users", analyst),
    ]

    def get(path: str, headers: dict[str, str]) -> Callable[[], httpx.Response]:
        return lambda: service.client.get(path, headers=headers)

    for path, headers in routes:
        up = service.within(PROMPT_SECONDS, get(path, headers))
        assert up is not None
        assert up.status_code == 200, (path, up.text)
    cluster.crash("all")

    for path, headers in routes * 2:
        down = service.within(PROMPT_SECONDS, get(path, headers))
        assert down is not None, f"{path}: no answer within {PROMPT_SECONDS} s while the database is down"
        assert down.status_code == 503, (path, down.text)
        assert down.json()["error"]["code"] == "unavailable"
        assert down.headers.get("retry-after") == "1"

    cluster.start()
    deadline, answers = time.monotonic() + RECOVERY_SECONDS, []
    path, headers = routes[0]
    while time.monotonic() < deadline:
        again = service.within(PROMPT_SECONDS, get(path, headers))
        answers.append(None if again is None else again.status_code)
        if again is not None and again.status_code == 200:
            break
        time.sleep(0.2)
    assert answers[-1] == 200, f"no 200 within {RECOVERY_SECONDS} s of the restart; answers: {answers}"
