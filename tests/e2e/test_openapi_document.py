"""The OpenAPI document says what the service takes and answers (issue 19), and the service keeps to it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final

import httpx
import pytest

from entrypoints.settings import Settings
from tests.e2e.api_support import error_of, running_api
from tests.e2e.served import Served

_SOMEONE: Final = "0b6c2f1e-52f5-4a5f-9d39-8b2f0f4d1a11"
_SEGMENT_ROUTES: Final = ("/v1/batch", "/v1/b", "/v1/track", "/v1/identify", "/v1/screen", "/v1/page", "/v1/alias")


@pytest.fixture
def document(settings: Settings) -> Iterator[dict[str, Any]]:
    with running_api(settings) as running:
        yield running.client.get("/schema/openapi.json").json()


def _operation(document: dict[str, Any], path: str, method: str = "get") -> dict[str, Any]:
    operation: dict[str, Any] = document["paths"][path][method]
    return operation


def _parameter(document: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    return next(p for p in _operation(document, path)["parameters"] if p["name"] == name)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_week_and_month_declare_the_patterns_the_service_takes(document: dict[str, Any]) -> None:
    cases = (
        ("week", ("/api/dashboard/retention", "/api/dashboard/weekly"), ["2026-W05", "2026-W52", "2026-01-28"]),
        ("month", ("/api/dashboard/monthly", "/api/dashboard/executive-summary"), ["2026-01", "2026-12-31"]),
    )
    refused = ["NIL", "2026-W00", "2026-W53", "0000-W01", "2026-13", "2026-02-30", " 2026-01", "2026-1"]
    for name, paths, taken in cases:
        for path in paths:
            pattern = re.compile(_parameter(document, path, name)["schema"]["pattern"])
            assert all(pattern.search(value) for value in taken), (path, name)
            assert not any(pattern.search(value) for value in refused if value not in taken), (path, name)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_security_statuses_and_bodies_are_declared(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert (schemes["BearerToken"]["scheme"], schemes["WriteKey"]["scheme"]) == ("bearer", "basic")
    events = _operation(document, "/v1/events", "post")
    assert events["security"] == [{"BearerToken": []}]
    assert set(events["responses"]) == {"200", "400", "401", "413", "429", "503"}
    body = events["requestBody"]["content"]["application/json"]["schema"]
    assert (body["required"], body["properties"]["batch"]["maxItems"], body["additionalProperties"]) == (
        ["batch"],
        1000,
        False,
    )
    for path in _SEGMENT_ROUTES:
        segment = _operation(document, path, "post")
        assert segment["security"] == [{"WriteKey": []}], path
        assert set(segment["responses"]) == {"200", "400", "401", "429", "503"}, path
        assert "requestBody" in segment, path
    settings_route = _operation(document, "/v1/projects/{write_key}/settings")
    assert "security" not in settings_route
    assert {"200", "404"} <= set(settings_route["responses"])
    assert "500" in _operation(document, "/api/users/{user_id}", "delete")["responses"]
    assert "304" in _operation(document, "/api/dashboard/weekly")["responses"]
    assert "application/zip" in _operation(document, "/api/users/{user_id}/export")["responses"]["200"]["content"]
    consent = _operation(document, "/api/users/{user_id}/consent", "put")
    assert consent["requestBody"]["content"]["application/json"]["schema"]["additionalProperties"] is False
    for path in ("/api/metrics/flourish-index", "/api/metrics/add-value-index", "/api/metrics/user-activity"):
        assert _parameter(document, path, "user_id")["required"] is True, path


def test_the_served_process_keeps_to_the_document(served: Served) -> None:
    admin = served.bearer("admin-1", "admin")
    with httpx.Client(base_url=served.base_url, timeout=10) as client:
        allow = client.options(f"/api/users/{_SOMEONE}/consent").headers["Allow"]
        assert set(allow.split(", ")) == {"GET", "PUT", "OPTIONS"}  # PUT was missing
        for path, query in (
            ("/api/dashboard/weekly", {"week": "NIL"}),
            ("/api/dashboard/retention", {"week": " 2026-W05"}),
            ("/api/dashboard/monthly", {"month": "2026-13"}),
            ("/api/metrics/platform-summary", {"date": "20261124"}),
        ):
            assert error_of(client.get(path, params=query, headers=admin), 400)["code"] == "bad_parameter", query
        assert client.get("/api/dashboard/weekly", params={"week": "2026-W05"}, headers=admin).status_code == 404
        consent = f"/api/users/{_SOMEONE}/consent"
        choice = {"analytics": True, "personalization": False, "marketing": False, "location": False}
        for wrong in ({"location": 0}, {"analytics": {}}, {"extra": True}):
            answer = client.put(consent, json=choice | wrong, headers=admin)
            assert error_of(answer, 400)["code"] == "bad_parameter", (wrong, answer.text)
        assert client.put(consent, json=choice, headers=admin).status_code == 200
        assert client.get(consent, headers=admin).json()["data"]["choice"] == choice
    assert "Traceback" not in served.output()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_kept_report_is_declared_as_a_pdf_or_the_html_email(document: dict[str, Any]) -> None:
    operation = _operation(document, "/api/reports/{report}/{period}")
    assert set(operation["responses"]["200"]["content"]) == {"application/pdf", "text/html"}
    assert _parameter(document, "/api/reports/{report}/{period}", "format")["schema"]["enum"] == ["pdf", "html"]
