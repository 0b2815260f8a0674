"""Schemathesis against the live app's OpenAPI document: a bounded run over every /api operation.

Each operation gets a few generated requests with an analyst's token, an
admin's, and none: no answer may be a 5xx, every answer is the envelope, and
without a token every answer is 401.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from application.principals import Role
from entrypoints.settings import Settings
from tests.e2e.api_support import Api, person_with_indices, running_api

Asgi = Callable[..., Any]
Answer = schemathesis.Response


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    with running_api(settings) as running:
        person_with_indices(running.container)  # so that some answers are 200s with figures
        yield running


def _without_lifespan(app: Asgi) -> Asgi:
    """The app for Schemathesis' own client: the TestClient already started it and stops it."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})

    return wrapped


def _schema(api: Api) -> Any:
    return schemathesis.openapi.from_asgi("/schema/openapi.json", _without_lifespan(api.client.app)).include(
        path_regex="^/api/"
    )


def _envelope(response: Answer | httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert body["status"] in ("success", "error"), body
    assert set(body) == {"status", "data" if body["status"] == "success" else "error", "metadata"}, body
    assert "calculated_at" in body["metadata"], body
    return body


def _fuzz(
    api: Api, role: Role | None, expect: Callable[[Answer], None], *, bodies: bool = True, examples: int = 10
) -> list[str]:
    """A bounded run of every operation as ``role`` (None: no token); what failed, one line per operation."""
    headers = {} if role is None else {"Authorization": f"Bearer {api.token('fuzz', role)}"}
    failures = []
    operations = [result.ok() for result in _schema(api).get_all_operations()]
    assert len(operations) >= 18
    if not bodies:
        operations = [operation for operation in operations if not operation.body]

    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case[Any]) -> None:
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error], headers=headers)
            expect(response)

        try:
            run()
        except (Exception, BaseExceptionGroup) as e:  # Schemathesis raises its failed checks as a group
            failures.append(f"{operation.label}: {type(e).__name__}: {e}")
    return failures


@pytest.mark.parametrize("role", ["analyst", "admin"])
def test_generated_requests_never_get_a_server_error_and_always_the_envelope(api: Api, role: Role) -> None:
    def enveloped(response: Answer) -> None:
        if response.status_code >= 400 or "json" in response.headers.get("content-type", [""])[0]:
            _envelope(response)  # a zip export is the one answer that is not JSON

    failures = _fuzz(api, role, enveloped)
    assert not failures, "\n\n".join(failures)


def test_without_a_token_every_generated_request_is_401(api: Api) -> None:
    def unauthenticated(response: Answer) -> None:
        assert response.status_code == 401, response.text
        assert _envelope(response)["error"]["code"] == "unauthenticated"

    # The gate is a guard, run before parameters and body are read: every operation, bodies included.
    failures = _fuzz(api, None, unauthenticated, examples=5)  # the gate comes first: few suffice
    assert not failures, "\n\n".join(failures)


def test_answers_conform_to_the_openapi_document(api: Api) -> None:
    schema = _schema(api)
    checks = [status_code_conformance, content_type_conformance, response_schema_conformance]
    admin = {"Authorization": f"Bearer {api.token('root', 'admin')}"}
    for path, headers in (("/api/realtime/dau", admin), ("/api/realtime/dau", {}), ("/api/dashboard/weekly", admin)):
        case = schema[path]["GET"].Case()
        case.validate_response(case.call(headers=headers), checks=checks, headers=headers)
