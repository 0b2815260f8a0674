"""Every API route x role x own/other user, walked from the app's OpenAPI document, against a table written here.

The table is the issue's policy restated, not imported from application.api_access.policy,
so that a change to either shows up as a difference. A route that appears in
the OpenAPI document without an entry here fails the walk.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, Final, Literal

import pytest
from litestar.exceptions import WebSocketDisconnect

from application.principals import Role
from entrypoints.settings import Settings
from tests.e2e.api_support import CLOSED_DAY, ROLES, Api, person_with_indices, running_api

Reach = Literal["own", "any"]  # "own": only about the caller's own user id

_PERSONAL: Final[dict[Role, Reach]] = {"user": "own", "admin": "any"}
_AGGREGATE: Final[dict[Role, Reach]] = {"analyst": "any", "admin": "any"}
_AUDIT: Final[dict[Role, Reach]] = {"auditor": "any", "admin": "any"}
_ADMIN: Final[dict[Role, Reach]] = {"admin": "any"}

EXPECTED: Final[dict[str, dict[Role, Reach]]] = {
    "/api/metrics/flourish-index": _PERSONAL,
    "/api/metrics/add-value-index": _PERSONAL,
    "/api/metrics/user-activity": _PERSONAL,
    "/api/users/{user_id}": _PERSONAL,  # DELETE: erasure
    "/api/users/{user_id}/consent": _PERSONAL,  # GET and PUT
    "/api/users/{user_id}/consent/history": _PERSONAL,
    "/api/users/{user_id}/export": _PERSONAL,
    "/api/metrics/platform-summary": _AGGREGATE,
    "/api/metrics/hourly": _AGGREGATE,
    "/api/exports": _AGGREGATE,
    "/api/exports/{dataset}": _AGGREGATE,
    "/api/reports": _AGGREGATE,
    "/api/reports/{report}/{period}": _AGGREGATE,
    "/api/dashboard/flourish": _AGGREGATE,
    "/api/dashboard/add-value": _AGGREGATE,
    "/api/dashboard/wave-participation": _AGGREGATE,
    "/api/dashboard/active-users": _AGGREGATE,
    "/api/dashboard/anomalies": _AGGREGATE,
    "/api/dashboard/executive-summary": _AGGREGATE,
    "/api/dashboard/retention": _AGGREGATE,
    "/api/dashboard/segments": _AGGREGATE,
    "/api/dashboard/weekly": _AGGREGATE,
    "/api/dashboard/monthly": _AGGREGATE,
    "/api/realtime/dau": _AGGREGATE,
    "/api/realtime/active-sessions": _AGGREGATE,
    "/api/realtime/live-waves": _AGGREGATE,
    "/api/quality": _AGGREGATE,
    "/api/quality/series": _AGGREGATE,
    "/api/audit/access-log": _AUDIT,
    "/api/audit/users/{user_id}/history": _AUDIT,
    "/api/audit/streams/{stream_id}": _AUDIT,
    "/api/admin/projections": _ADMIN,
    "/api/admin/projections/{name}/rebuild": _ADMIN,  # POST: 202, or 404 for a made-up name
    "/api/admin/projections/rebuild-all": _ADMIN,
    "/api/admin/projections/rebuilds/{job_id}": _ADMIN,  # 404 for a made-up job
    "/api/alerts": _AGGREGATE,  # states and history
    "/api/alerts/silences": _ADMIN,  # POST
    "/api/alerts/silences/{silence_id}": _ADMIN,  # DELETE
}
LIVE_FEED: Final[dict[Role, Reach]] = _AGGREGATE  # the WebSocket, which OpenAPI does not describe


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    with running_api(settings) as running:
        yield running


def _allowed(rule: dict[Role, Reach], role: Role, own: bool) -> bool:
    return role in rule and (rule[role] == "any" or own)


def _request(path: str, operation: dict[str, Any], about: str) -> tuple[str, dict[str, str]]:
    """The concrete URL and query for asking about ``about`` on the day its data is: other ids made up."""
    query: dict[str, str] = {}
    for parameter in operation.get("parameters", []):
        name, where = parameter["name"], parameter["in"]
        value = about if name == "user_id" else str(uuid.uuid4())
        if where == "path":
            path = path.replace("{" + name + "}", value)
        elif where == "query" and name == "user_id":
            query[name] = value
        elif where == "query" and name in ("date", "from", "to"):
            query[name] = CLOSED_DAY.isoformat()
    assert "{" not in path, f"{path}: a path parameter the walk cannot fill"
    return path, query


def _example(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """A smallest valid JSON value for ``schema``, so that a body's shape never decides the outcome."""
    if "$ref" in schema:
        return _example(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: _example(properties[name], components) for name in schema.get("required", [])}
    assert kind in _SCALARS, f"the walk cannot make a {schema}"
    return _SCALARS[kind]


_SCALARS: Final[dict[str, Any]] = {"boolean": False, "string": "x", "integer": 0, "number": 0, "array": []}


def _body(operation: dict[str, Any], components: dict[str, Any]) -> Any:
    content = operation.get("requestBody", {}).get("content", {})
    return _example(content["application/json"]["schema"], components) if content else None


def test_every_route_role_and_own_or_other_user_gets_what_the_policy_says(api: Api) -> None:
    spec = api.client.get("/schema/openapi.json").json()
    routes = {path: item for path, item in spec["paths"].items() if path.startswith("/api/")}
    components = spec.get("components", {}).get("schemas", {})
    assert set(routes) == set(EXPECTED), "a route without a policy entry here (or an entry without a route)"

    # Both people have data on CLOSED_DAY: a forbidden read of another's data must be a 403, never their data,
    # and an allowed read of a person's own data must answer it. Erasures (DELETE) come last, once all is read.
    me, other = (str(person_with_indices(api.container)) for _ in range(2))
    operations = [(template, method, op) for template, item in routes.items() for method, op in item.items()]
    operations.sort(key=lambda walk: walk[1] == "delete")
    wrong = []
    for template, method, operation in operations:
        for role in ROLES:
            for own in (True, False):
                url, query = _request(template, operation, me if own else other)
                # The caller is `me` where whose data it is matters; elsewhere a fresh subject each time, as
                # refusals are limited per caller (docs/security.md) and this walk is refused on purpose.
                caller = me if EXPECTED[template] is _PERSONAL else str(uuid.uuid4())
                headers = {"Authorization": f"Bearer {api.token(caller, role)}"}
                body = _body(operation, components)
                response = api.client.request(method.upper(), url, params=query, headers=headers, json=body)
                allowed = _allowed(EXPECTED[template], role, own)
                reads_a_person = method == "get" and EXPECTED[template] is _PERSONAL
                if (
                    allowed != (response.status_code not in (401, 403))
                    or response.status_code >= 500
                    or (allowed and reads_a_person and response.status_code != 200)
                ):
                    whose = "own" if own else "other"
                    wrong.append(f"{method.upper()} {template} as {role} ({whose}): {response.status_code}")
                elif not allowed:
                    assert response.json()["error"]["code"] == "forbidden"
    assert not wrong, "\n".join(wrong)


def test_the_live_feed_is_for_analysts_and_admins_only(api: Api) -> None:
    for role in ROLES:
        headers = {"Authorization": f"Bearer {api.token(str(uuid.uuid4()), role)}"}
        if _allowed(LIVE_FEED, role, own=True):
            with api.client.websocket_connect("/api/realtime/metrics", headers=headers) as socket:
                assert socket.receive_json(mode="binary", timeout=5)["status"] == "success"
            continue
        with (
            api.client.websocket_connect("/api/realtime/metrics", headers=headers) as socket,
            pytest.raises(WebSocketDisconnect) as closed,
        ):
            socket.receive_bytes(timeout=5)
        assert closed.value.code == 4403, role
