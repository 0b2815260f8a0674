"""What only the real ``addvalue serve`` process shows: uvicorn's options as the service sets them."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from adapters.database_url import parse_database_url
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import Settings
from tests.e2e.served import Served, start_served
from tests.fakes import consent

# The smallest network bucket the settings allow: 2,500 events, refilled at one event per 1,000 s.
_NETWORK_LIMIT = "0.001/2500"


def _batch(events: int) -> bytes:
    """``events`` copies of one event: all count against the network's bucket, only the first is stored."""
    one = consent(uuid.uuid4(), analytics=True)
    return b'{"batch":[' + b",".join([one] * events) + b"]}"


@pytest.fixture
def service_with_a_small_network_limit(tmp_path: Path) -> Iterator[Served]:
    with start_served(
        "sqlite", tmp_path, env={"ADDVALUE_RATE_LIMIT_NETWORK": _NETWORK_LIMIT, "ADDVALUE_RATE_LIMIT_USER": "0"}
    ) as service:
        yield service


def test_x_forwarded_for_from_loopback_is_ignored_when_no_proxy_is_trusted(
    service_with_a_small_network_limit: Served,
) -> None:
    """Without ADDVALUE_TRUSTED_PROXIES, uvicorn must not believe X-Forwarded-For from 127.0.0.1 either:
    requests with different headers share the loopback peer's network bucket."""
    service = service_with_a_small_network_limit
    auth = {"Authorization": f"Bearer {service.token('svc', 'service')}"}
    sent = [
        httpx.post(
            f"{service.base_url}/v1/events", content=_batch(n), headers={**auth, "X-Forwarded-For": "203.0.113.7"}
        )
        for n in (1000, 1000, 500)
    ]
    assert [r.status_code for r in sent] == [200, 200, 200]  # the whole burst of 2,500, taken
    other = httpx.post(
        f"{service.base_url}/v1/events", content=_batch(1), headers={**auth, "X-Forwarded-For": "198.51.100.9"}
    )
    assert other.status_code == 429, "a new X-Forwarded-For value got a network bucket of its own"


_SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def test_every_answer_carries_the_security_headers_and_no_server_header(tmp_path: Path) -> None:
    """Answers, errors and 404s alike; HSTS only behind TLS, which plain HTTP from an untrusted peer is not."""
    with start_served("sqlite", tmp_path) as service:
        answers = [
            httpx.get(f"{service.base_url}/health"),
            httpx.get(f"{service.base_url}/api/dashboard/segments"),  # 401
            httpx.get(f"{service.base_url}/no/such/route"),  # 404
            httpx.post(f"{service.base_url}/v1/events", content=b"{}"),  # 401
            httpx.get(f"{service.base_url}/schema/openapi.json"),
        ]
        spoofed = httpx.get(f"{service.base_url}/health", headers={"X-Forwarded-Proto": "https"})
    for answer in answers:
        assert {k: answer.headers.get(k) for k in _SECURITY_HEADERS} == _SECURITY_HEADERS, answer.url
        assert "default-src 'none'" in answer.headers.get("content-security-policy", ""), answer.url
        assert "server" not in answer.headers, answer.url
        assert "strict-transport-security" not in answer.headers
    assert [a.status_code for a in answers] == [200, 401, 404, 401, 200]
    assert "strict-transport-security" not in spoofed.headers  # loopback is not a trusted proxy here


def test_hsts_is_sent_when_a_trusted_proxy_says_the_client_used_https(tmp_path: Path) -> None:
    with start_served("sqlite", tmp_path, env={"ADDVALUE_TRUSTED_PROXIES": "127.0.0.1"}) as service:
        behind_tls = httpx.get(f"{service.base_url}/health", headers={"X-Forwarded-Proto": "https"})
        plain = httpx.get(f"{service.base_url}/health", headers={"X-Forwarded-Proto": "http"})
    assert behind_tls.headers["strict-transport-security"].startswith("max-age=")
    assert "strict-transport-security" not in plain.headers


def test_an_analyst_gets_no_mean_of_one_person_and_the_served_openapi_document_says_it_may_be_null(
    tmp_path: Path,
) -> None:
    master_key = os.urandom(32)
    day = (datetime.now(UTC) - timedelta(days=3)).date()
    settings = Settings(
        database=parse_database_url(f"sqlite:///{tmp_path}/var/addvalue.db"), master_key=master_key, jwt_secret="unused"
    )
    with bootstrap(settings) as container:  # one person's indices, as the daily job would have written them
        container.user_days_view.put_indices(
            day, {uuid.uuid4(): b'{"flourish":{"value":7.85},"add_value":{"value":3}}'}
        )
    with start_served(
        "sqlite", tmp_path, env={"ADDVALUE_MASTER_KEY": base64.b64encode(master_key).decode()}
    ) as service:
        answer = httpx.get(
            f"{service.base_url}/api/dashboard/flourish",
            params={"from": day.isoformat(), "to": day.isoformat()},
            headers={"Authorization": f"Bearer {service.token('analyst-1', 'analyst')}"},
        )
        document = httpx.get(f"{service.base_url}/schema/openapi.json").json()
    assert answer.status_code == 200, answer.text
    (point,) = answer.json()["data"]["series"]
    assert (point["people"], point["mean"], point["median"]) == (1, None, None)
    assert "minimum group size" in point["withheld"]
    schemas = document["components"]["schemas"]
    mean = next(s for name, s in schemas.items() if name.endswith("IndexPoint"))["properties"]["mean"]
    assert {"type": "null"} in mean.get("oneOf", mean.get("anyOf", [])), mean
