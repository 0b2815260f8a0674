"""OPTIONS on the served process (`addvalue serve`): 204 with Allow, before the token is read, at no cost."""

from __future__ import annotations

from typing import Final

import httpx

from tests.e2e.served import Served

_API_ROUTES: Final = (
    "/api/realtime/dau",
    "/api/dashboard/flourish",
    "/api/metrics/flourish-index",
    "/api/audit/access-log",
    "/api/audit/streams/0b6c2f1e-52f5-4a5f-9d39-8b2f0f4d1a11",
    "/api/users/0b6c2f1e-52f5-4a5f-9d39-8b2f0f4d1a11",
    "/api/users/0b6c2f1e-52f5-4a5f-9d39-8b2f0f4d1a11/consent",
)
_OTHER_ROUTES: Final = ("/v1/events", "/v1/batch", "/v1/projects/some-key/settings", "/health", "/ready")


def _remaining(client: httpx.Client, headers: dict[str, str]) -> int:
    answer = client.get("/api/realtime/dau", headers=headers)
    assert answer.status_code == 200, answer.text
    return int(answer.headers["RateLimit-Remaining"])


def _logged_methods(client: httpx.Client, headers: dict[str, str]) -> list[str]:
    answer = client.get("/api/audit/access-log", headers=headers, params={"limit": 1000})
    assert answer.status_code == 200, answer.text
    return [record["method"] for record in answer.json()["data"]["records"]]


def test_options_answers_204_with_allow_on_every_route_without_reading_the_token_or_costing_quota(
    served: Served,
) -> None:
    admin = served.bearer("admin-1", "admin")
    with httpx.Client(base_url=served.base_url, timeout=10) as client:
        before = _remaining(client, admin)
        for path in _API_ROUTES + _OTHER_ROUTES:
            for headers in ({}, admin, {"Authorization": "Bearer not-a-token"}):
                answer = client.options(path, headers=headers)
                assert answer.status_code == 204, (path, headers, answer.status_code, answer.text)
                assert "OPTIONS" in answer.headers["Allow"], (path, answer.headers)
                assert "RateLimit-Remaining" not in answer.headers
        # One GET costs one request of the quota; the fifteen OPTIONS before it cost none.
        assert _remaining(client, admin) == before - 1
        assert "OPTIONS" not in _logged_methods(client, admin)
    assert "options_handler" not in served.output()
    assert "Traceback" not in served.output()
