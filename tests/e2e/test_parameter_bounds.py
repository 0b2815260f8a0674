"""Out-of-range page parameters answer 400 in the envelope, and the OpenAPI document says the ranges and formats."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import httpx
import pytest

from entrypoints.settings import Settings
from tests.e2e.api_support import Api, error_of, running_api
from tests.e2e.served import Served

_BIGGEST: Final = 2**63 - 1
_SOMEONE: Final = "0b6c2f1e-52f5-4a5f-9d39-8b2f0f4d1a11"
_PAGED: Final = ("/api/audit/access-log", f"/api/audit/users/{_SOMEONE}/history")


def test_page_parameters_out_of_range_answer_400_in_the_envelope_on_the_served_process(served: Served) -> None:
    admin = served.bearer("admin-1", "admin")
    with httpx.Client(base_url=served.base_url, timeout=10) as client:
        for path in _PAGED:
            for query in ({"after": _BIGGEST + 1}, {"after": 10**30}, {"after": -1}, {"limit": 0}, {"limit": 1001}):
                answer = client.get(path, params=query, headers=admin)
                error = error_of(answer, 400)
                assert error["code"] == "bad_parameter", (path, query, error)
                assert next(iter(query)) in error["message"], (path, query, error)
        within = client.get(_PAGED[0], params={"after": _BIGGEST, "limit": 1000}, headers=admin)
        assert within.status_code == 200, within.text
        assert within.json()["data"]["records"] == []
    assert "Traceback" not in served.output()


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    with running_api(settings) as running:
        yield running


def _parameters(document: dict[str, Any], path: str) -> dict[str, dict[str, Any]]:
    operation = next(iter(document["paths"][path].values()))
    return {p["name"]: p["schema"] for p in operation["parameters"]}


def _declares(schema: dict[str, Any], key: str, value: object) -> bool:
    """The parameter's schema, or one of its alternatives (an optional parameter is ``oneOf`` it and null)."""
    return schema.get(key) == value or any(_declares(s, key, value) for s in schema.get("oneOf", []))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_openapi_document_declares_page_bounds_uuid_and_date_formats(api: Api) -> None:
    document = api.client.get("/schema/openapi.json").json()
    for path in ("/api/audit/access-log", "/api/audit/users/{user_id}/history"):
        found = _parameters(document, path)
        assert (found["after"].get("minimum"), found["after"].get("maximum")) == (0, _BIGGEST), found
        assert (found["limit"].get("minimum"), found["limit"].get("maximum")) == (1, 1000), found
    formats = (
        ("/api/audit/streams/{stream_id}", "stream_id", "uuid"),
        ("/api/audit/users/{user_id}/history", "user_id", "uuid"),
        ("/api/users/{user_id}/consent", "user_id", "uuid"),
        ("/api/users/{user_id}/export", "user_id", "uuid"),
        ("/api/metrics/flourish-index", "user_id", "uuid"),
        ("/api/metrics/user-activity", "user_id", "uuid"),
        ("/api/metrics/flourish-index", "date", "date"),
        ("/api/metrics/user-activity", "from", "date"),
        ("/api/dashboard/flourish", "to", "date"),
        ("/api/dashboard/segments", "date", "date"),
        ("/api/metrics/platform-summary", "date", "date"),
    )
    for path, name, format_ in formats:
        assert _declares(_parameters(document, path)[name], "format", format_), (path, name)
