"""CORS on the served process (`addvalue serve` with ADDVALUE_CORS_ORIGINS): headers for listed origins only,
preflights answered before the gate, at no cost to the quota."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import httpx
import pytest

from entrypoints.settings import SettingsError, load_settings
from tests.e2e.served import start_served

_LISTED: Final = "https://app.example.org"
_ALSO_LISTED: Final = "http://localhost:5173"
_OTHER: Final = "https://evil.example.com"
_ROUTES: Final = (
    "/api/realtime/dau",
    "/api/users/0b6c2f1e-52f5-4a5f-9d39-8b2f0f4d1a11/consent",
    "/v1/events",
    "/v1/batch",
    "/v1/projects/some-key/settings",
    "/health",
)


def _preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }


def _cors_headers(answer: httpx.Response) -> set[str]:
    return {name for name in answer.headers if name.lower().startswith("access-control-")}


def test_only_listed_origins_get_cors_headers_and_preflights_cost_nothing(backend: str, tmp_path: Path) -> None:
    env = {"ADDVALUE_CORS_ORIGINS": f"{_LISTED}, {_ALSO_LISTED}"}
    with start_served(backend, tmp_path, env=env) as served, httpx.Client(base_url=served.base_url) as client:
        analyst = served.bearer("analyst-1", "analyst")
        remaining = int(client.get("/api/realtime/dau", headers=analyst).headers["RateLimit-Remaining"])
        for path in _ROUTES:
            listed = client.options(path, headers=_preflight(_LISTED) | analyst)
            assert listed.status_code == 204, (path, listed.text)
            assert listed.headers["Access-Control-Allow-Origin"] == _LISTED
            assert set(listed.headers["Access-Control-Allow-Methods"].split(", ")) == set(
                listed.headers["Allow"].split(", ")
            )
            assert "Authorization" in listed.headers["Access-Control-Allow-Headers"]
            assert listed.headers["Access-Control-Max-Age"] == "600"
            assert "RateLimit-Remaining" not in listed.headers
            other = client.options(path, headers=_preflight(_OTHER))
            assert other.status_code == 204, (path, other.text)
            assert "OPTIONS" in other.headers["Allow"]
            assert _cors_headers(other) == set()
        # Six preflights with a token cost nothing: the next GET is the second request counted.
        answer = client.get("/api/realtime/dau", headers=analyst | {"Origin": _ALSO_LISTED})
        assert answer.status_code == 200
        assert int(answer.headers["RateLimit-Remaining"]) == remaining - 1
        assert answer.headers["Access-Control-Allow-Origin"] == _ALSO_LISTED
        assert "RateLimit-Remaining" in answer.headers["Access-Control-Expose-Headers"]
        assert "Origin" in answer.headers["Vary"]
        refused = client.get("/api/realtime/dau", headers={"Origin": _LISTED})
        assert refused.status_code == 401
        assert refused.headers["Access-Control-Allow-Origin"] == _LISTED  # the page can read why
        unlisted = client.get("/api/realtime/dau", headers=analyst | {"Origin": _OTHER})
        assert unlisted.status_code == 200
        assert _cors_headers(unlisted) == set()


def test_without_the_setting_no_answer_carries_cors_headers(backend: str, tmp_path: Path) -> None:
    with start_served(backend, tmp_path) as served, httpx.Client(base_url=served.base_url) as client:
        preflight = client.options("/api/realtime/dau", headers=_preflight(_LISTED))
        assert preflight.status_code == 204
        answer = client.get("/api/realtime/dau", headers=served.bearer("analyst-1", "analyst") | {"Origin": _LISTED})
        assert answer.status_code == 200
        assert _cors_headers(preflight) == _cors_headers(answer) == set()


@pytest.mark.parametrize(
    "value", ["*", "https://app.example.org/", "app.example.org", "ftp://x.org", "https://u@x.org", "https://x:y"]
)
def test_cors_origins_must_be_plain_origins(value: str, tmp_path: Path) -> None:
    env = {"ADDVALUE_DATABASE_URL": f"sqlite:///{tmp_path}/addvalue.db", "ADDVALUE_CORS_ORIGINS": value}
    with pytest.raises(SettingsError, match="ADDVALUE_CORS_ORIGINS"):
        load_settings(env)


def test_cors_origins_are_read_as_browsers_send_them(tmp_path: Path) -> None:
    env = {
        "ADDVALUE_DATABASE_URL": f"sqlite:///{tmp_path}/addvalue.db",
        "ADDVALUE_CORS_ORIGINS": " HTTPS://App.Example.org ,http://localhost:5173,",
    }
    assert load_settings(env).cors_origins == frozenset({"https://app.example.org", "http://localhost:5173"})
