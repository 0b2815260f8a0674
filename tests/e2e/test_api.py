"""The Analytics API through the real app on SQLite and PostgreSQL: envelope, errors, caching, quota, audit, live."""

from __future__ import annotations

import base64
import json
import queue
import re
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from litestar.exceptions import WebSocketDisconnect

from adapters.api_access.tokens import JwtTokens
from application.api_access.people import UNKEYED, person_hash
from domain.indices import FORMULA_VERSION
from entrypoints.settings import Settings
from tests.e2e.api_support import CLOSED_DAY, NOW, Api, error_of, person_with_indices, running_api, send
from tests.fakes import consent, event

FLOURISH = "/api/metrics/flourish-index"
METADATA = {"calculated_at", "data_points", "confidence", "formula_version"}


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    with running_api(settings) as running:
        yield running


# --- the envelope -------------------------------------------------------------------------------------


def test_a_person_reads_their_own_flourish_index_in_the_envelope(api: Api) -> None:
    me = person_with_indices(api.container)
    response = api.get(FLOURISH, "user", str(me), user_id=str(me), date=CLOSED_DAY.isoformat())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success"
    data, metadata = body["data"], body["metadata"]
    assert (data["metric"], data["date"]) == ("flourish_index", "2026-02-20")
    assert 0 <= data["value"] <= 100
    assert data["breakdown"]["mood_score"] > 0
    assert set(metadata) == METADATA
    assert metadata["confidence"] == "closed"
    assert metadata["formula_version"] == FORMULA_VERSION
    assert metadata["data_points"] >= 1


def test_a_closed_days_platform_summary_is_in_the_envelope(api: Api) -> None:
    person_with_indices(api.container)
    body = api.get("/api/metrics/platform-summary", "analyst", date=CLOSED_DAY.isoformat()).json()
    assert body["status"] == "success", body
    assert body["data"]["metric"] == "platform_summary"
    assert body["data"]["value"] == body["data"]["breakdown"]["daily_active_people"] == 1
    assert set(body["metadata"]) == METADATA
    assert body["metadata"]["confidence"] == "closed"


def test_real_time_answers_carry_the_full_metadata(api: Api) -> None:
    body = api.get("/api/realtime/dau", "analyst").json()
    assert body["data"]["metric"] == "dau"
    assert set(body["metadata"]) >= METADATA
    assert body["metadata"]["confidence"] == "provisional"


# --- bad parameters: 400 or 404 with a message, never 500 ------------------------------------------------

ME = "{me}"  # replaced by the caller's own user id


BAD_PARAMETERS: list[tuple[Any, str, dict[str, str], str, str]] = [
    ("user", FLOURISH, {"user_id": ME, "date": "2026-02-31"}, "bad_parameter", "date: expected a date"),
    ("user", FLOURISH, {"user_id": "not-a-uuid"}, "bad_parameter", "user_id: expected a UUID"),
    ("user", FLOURISH, {}, "missing_parameter", "user_id is required"),
    ("user", "/api/metrics/user-activity", {"user_id": ME, "from": "2020-01-01"}, "bad_parameter", "366"),
    ("analyst", "/api/dashboard/active-users", {"from": "2024-01-01", "to": "2025-01-01"}, "bad_parameter", "367"),
    ("analyst", "/api/dashboard/flourish", {"from": "2026-02-10", "to": "2026-02-01"}, "bad_parameter", "before"),
    ("analyst", "/api/dashboard/weekly", {"week": "last tuesday"}, "bad_parameter", ""),
    ("analyst", "/api/dashboard/retention", {"week": "2026-W60"}, "bad_parameter", ""),
    ("analyst", "/api/dashboard/monthly", {"month": "2026-13"}, "bad_parameter", ""),
    # Litestar checks the page bounds the OpenAPI document declares (issue 19), and says so in its words.
    ("auditor", "/api/audit/access-log", {"limit": "0"}, "bad_parameter", "limit: Expected `int` >= 1"),
    ("auditor", "/api/audit/access-log", {"limit": "1001"}, "bad_parameter", "limit: Expected `int` <= 1000"),
    ("auditor", "/api/audit/access-log", {"after": "-1"}, "bad_parameter", "after: Expected `int` >= 0"),
    ("auditor", "/api/audit/access-log", {"limit": "many"}, "bad_parameter", "limit"),
    ("auditor", "/api/audit/streams/not-a-uuid", {}, "bad_parameter", "stream_id: expected a UUID"),
]


def test_bad_parameters_are_400_in_the_envelope_with_a_message(api: Api) -> None:
    for role, path, params, code, says in BAD_PARAMETERS:
        me = str(uuid.uuid4())
        response = api.get(path, role, me, **{k: me if v == ME else v for k, v in params.items()})
        error = error_of(response, 400)
        assert (error["code"], path, params) == (code, path, params)
        assert says in error["message"], (path, params, error)


def test_a_range_of_exactly_366_days_is_allowed(api: Api) -> None:
    response = api.get("/api/dashboard/active-users", "analyst", **{"from": "2024-01-01", "to": "2024-12-31"})
    assert response.status_code == 200, response.text


def test_unknown_people_periods_and_streams_are_404_with_a_message(api: Api) -> None:
    known, stranger = person_with_indices(api.container), str(uuid.uuid4())
    cases: list[tuple[Any, str, dict[str, str], str]] = [
        ("user", FLOURISH, {"user_id": stranger}, "no data is held for this user"),
        ("admin", FLOURISH, {"user_id": str(known), "date": "2026-02-21"}, "has not computed it"),
        ("analyst", "/api/metrics/platform-summary", {"date": "2026-03-01"}, "not closed yet"),
        ("analyst", "/api/dashboard/executive-summary", {}, "no executive-summary"),
        ("analyst", "/api/dashboard/weekly", {"week": "2026-W05"}, "has not been computed"),
        ("auditor", f"/api/audit/streams/{uuid.uuid4()}", {}, "no stream has this id"),
        ("auditor", f"/api/audit/users/{stranger}/history", {}, "no data is held for this user"),
    ]
    for role, path, params, says in cases:
        error = error_of(api.get(path, role, stranger, **params), 404)
        assert error["code"] == "not_found"
        assert says in error["message"], (path, error)


# --- tokens -----------------------------------------------------------------------------------------------


def _unsigned(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def test_expired_foreign_audience_and_unsigned_tokens_get_401_in_the_envelope(api: Api, settings: Settings) -> None:
    tokens = api.container.tokens
    now = int(time.time())
    claims = {"sub": "admin-1", "role": "admin", "iss": settings.jwt_issuer, "aud": settings.jwt_audience}
    bad = {
        "expired": tokens.mint("admin-1", "admin", valid_for=timedelta(hours=-1)),
        "wrong audience": JwtTokens(settings.jwt_secret, issuer=settings.jwt_issuer, audience="another-api").mint(
            "admin-1", "admin"
        ),
        "alg none": _unsigned({**claims, "iat": now, "exp": now + 600}),
        "not a jwt": "not-a-jwt",
    }
    for path in (FLOURISH, "/api/dashboard/flourish", "/api/realtime/dau", "/api/audit/access-log"):
        for what, token in bad.items():
            response = api.client.get(path, params={"user_id": "admin-1"}, headers={"Authorization": f"Bearer {token}"})
            assert error_of(response, 401)["code"] == "unauthenticated", (path, what)
            assert response.headers["www-authenticate"].startswith("Bearer"), (path, what)
        assert error_of(api.client.get(path), 401)["message"] == "send 'Authorization: Bearer <token>'"


def test_the_token_is_checked_before_the_body(api: Api) -> None:
    path = f"/api/users/{uuid.uuid4()}/consent"
    assert error_of(api.client.put(path, json={"nonsense": 1}), 401)["code"] == "unauthenticated"
    analyst = {"Authorization": f"Bearer {api.token('ana', 'analyst')}"}
    assert error_of(api.client.put(path, json={"nonsense": 1}, headers=analyst), 403)["code"] == "forbidden"


# --- caching -----------------------------------------------------------------------------------------------


def test_a_closed_days_answer_has_an_etag_and_if_none_match_gives_304(api: Api) -> None:
    me = str(person_with_indices(api.container))
    asked = {"user_id": me, "date": CLOSED_DAY.isoformat()}
    first = api.get(FLOURISH, "user", me, **asked)
    tag = first.headers["etag"]
    assert first.headers["cache-control"] == "private, max-age=300"  # closed, not final: late events may change it
    headers = {"Authorization": f"Bearer {api.token(me, 'user')}"}
    again = api.client.get(FLOURISH, params=asked, headers={**headers, "If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == tag
    other = api.client.get(FLOURISH, params=asked, headers={**headers, "If-None-Match": '"something-else"'})
    assert other.status_code == 200
    assert other.json()["data"] == first.json()["data"]


def test_a_final_range_may_be_cached_for_a_day(api: Api) -> None:
    response = api.get("/api/dashboard/active-users", "analyst", **{"from": "2025-12-01", "to": "2026-01-15"})
    assert response.json()["metadata"]["confidence"] == "final"
    assert response.headers["cache-control"] == "private, max-age=86400"
    assert response.headers["etag"]


def test_real_time_and_provisional_answers_are_not_stored(api: Api) -> None:
    live = ["/api/realtime/dau", "/api/realtime/active-sessions", "/api/realtime/live-waves"]
    for path in [*live, "/api/dashboard/active-users"]:  # the default range ends yesterday: still provisional
        response = api.get(path, "analyst")
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store", path
        assert "etag" not in response.headers, path


# --- the quota ------------------------------------------------------------------------------------------------


def test_by_default_each_user_may_make_1000_requests_an_hour(api: Api) -> None:
    # README and docs/security.md: "default 1,000", ADDVALUE_API_REQUESTS_PER_HOUR.
    response = api.get("/api/realtime/dau", "analyst", "ana")
    assert response.status_code == 200, response.text
    assert (response.headers["ratelimit-limit"], response.headers["ratelimit-remaining"]) == ("1000", "999")
    assert 1 <= int(response.headers["ratelimit-reset"]) <= 3600  # seconds until the current hour's window ends


def test_two_apps_on_one_database_share_each_users_hourly_quota(settings: Settings) -> None:
    small = msgspec.structs.replace(settings, api_requests_per_hour=3)
    with running_api(small) as one, running_api(small) as other:
        remaining = []
        for app in (one, other, one):
            response = app.get("/api/realtime/dau", "analyst", "ana")
            assert response.status_code == 200, response.text
            assert response.headers["ratelimit-limit"] == "3"
            remaining.append(response.headers["ratelimit-remaining"])
        assert remaining == ["2", "1", "0"]

        refused = other.get("/api/realtime/dau", "analyst", "ana")
        error = error_of(refused, 429)
        assert error["code"] == "rate_limited"
        assert "3 requests per hour" in error["message"]
        assert 1 <= int(refused.headers["retry-after"]) <= 2 * 3600
        assert refused.headers["ratelimit-remaining"] == "0"
        assert int(refused.headers["ratelimit-reset"]) >= 1

        assert one.get("/api/realtime/dau", "analyst", "bob").headers["ratelimit-remaining"] == "2"
        # Refusals are counted per minute, not logged one row each (application.api_access.denials).
        logged = one.container.access_log.page(0, 100)
        assert [(r.status, r.outcome) for r in logged] == [(200, "allowed")] * 4


# --- the access log ---------------------------------------------------------------------------------------------


def _template(route: str) -> str:
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", route)  # Litestar spells {stream_id:str}; OpenAPI {stream_id}


def test_every_api_access_is_logged_by_route_template_without_personal_data(api: Api) -> None:
    person, stream = str(person_with_indices(api.container)), str(uuid.uuid4())
    analyst = "ana.lyst@example.org"
    statuses = [
        api.get(FLOURISH, "user", person, user_id=person, date=CLOSED_DAY.isoformat()).status_code,
        api.get(
            "/api/dashboard/flourish", "analyst", analyst, **{"from": "2025-01-07", "to": "2025-01-09"}
        ).status_code,
        api.get(f"/api/audit/streams/{stream}", "user", person).status_code,
        api.get(f"/api/audit/streams/{stream}", None).status_code,
        api.get(f"/api/audit/streams/{stream}", "auditor", "aud").status_code,
        api.get(FLOURISH, "user", person, user_id=str(uuid.uuid4())).status_code,
    ]
    assert statuses == [200, 200, 403, 401, 404, 403]

    body = api.get("/api/audit/access-log", "auditor", "aud").json()
    records = body["data"]["records"]  # the refusals (403, 401) are counted per minute, not one row each
    assert body["metadata"]["data_points"] == len(records) == 3
    assert set(records[0]) == {"seq", "at", "principal", "role", "method", "route", "status", "outcome"} | {
        "prev_hash",
        "hash",
        "requests",
        "about",
    }
    assert [(r["status"], r["outcome"], r["requests"]) for r in records] == [(s, "allowed", 1) for s in (200, 200, 404)]
    assert [r["role"] for r in records] == ["user", "analyst", "auditor"]
    assert len({r["principal"] for r in records}) == 3  # a keyed hash per caller
    routes = [_template(r["route"]) for r in records]
    assert routes[0] == FLOURISH
    assert routes[2] == "/api/audit/streams/{stream_id}"
    paths = api.client.get("/schema/openapi.json").json()["paths"]
    assert set(routes) <= set(paths)
    logged = json.dumps(records)
    for secret in (person, uuid.UUID(person).hex, stream, analyst, "2025-01-07", "2025-01-09", "2026-02-20"):
        assert secret not in logged
    assert api.container.access_log.verify().ok


def test_a_persons_access_log_entries_and_reads_of_their_data_become_unlinkable_when_they_are_erased(api: Api) -> None:
    person = person_with_indices(api.container)
    own = api.get(FLOURISH, "user", str(person), user_id=str(person), date=CLOSED_DAY.isoformat())
    assert own.status_code == 200, own.text
    exported = api.get(f"/api/users/{person}/export", "admin", "an-admin")
    history = api.get(f"/api/audit/users/{person}/history", "auditor", "an-auditor")
    assert (exported.status_code, history.status_code) == (200, 200)

    records = api.container.access_log.page(0, 100)
    keyed = person_hash(api.container.keys, person)
    assert keyed != f"person:{UNKEYED}"
    assert [r.principal == keyed for r in records] == [True, False, False]  # the person's own request
    assert [r.about for r in records] == ["", keyed, keyed]  # whose data the admin and the auditor read
    assert str(person) not in str(records)
    assert person.hex not in str(records)

    api.container.erasure.erase(person, requested_by="test")
    assert person_hash(api.container.keys, person) == f"person:{UNKEYED}"  # the key that made the hash is gone
    after = api.container.access_log.page(0, 100)
    assert after == records  # the records, and so the chain, are unchanged
    assert api.container.access_log.verify().ok
    assert keyed not in {person_hash(api.container.keys, uuid.uuid4()) for _ in range(3)}


def test_an_auditor_replays_a_persons_history_and_streams_with_versions(api: Api) -> None:
    person = str(person_with_indices(api.container))
    history = api.get(f"/api/audit/users/{person}/history", "auditor")
    assert history.status_code == 200, history.text
    events = history.json()["data"]["events"]
    assert history.json()["metadata"]["data_points"] == len(events) >= 4
    assert not any(e["redacted"] for e in events)
    tracked = [t["event"] for e in events if e["event_type"] == "Session.EventsTracked" for t in e["data"]["events"]]
    assert {"activation_mood_logged", "microact_shared"} <= {t["event_name"] for t in tracked}  # decrypted
    assert any(t["properties"].get("mood") == 7 for t in tracked)

    stream_id = events[-1]["stream_id"]
    stream = api.get(f"/api/audit/streams/{stream_id}", "admin").json()
    versions = [e["version"] for e in stream["data"]["events"]]
    assert versions == list(range(1, len(versions) + 1))
    assert stream["data"]["stream_id"] == stream_id

    page = api.get(f"/api/audit/users/{person}/history", "auditor", after=events[0]["position"], limit=1).json()
    assert [e["position"] for e in page["data"]["events"]] == [events[1]["position"]]


def test_an_erased_persons_history_is_404_with_a_message_and_their_streams_are_redacted(api: Api) -> None:
    person = person_with_indices(api.container)
    stream_id = api.get(f"/api/audit/users/{person}/history", "auditor").json()["data"]["events"][-1]["stream_id"]
    api.container.erasure.erase(person, requested_by="test")

    error = error_of(api.get(f"/api/audit/users/{person}/history", "auditor"), 404)
    assert "erased" in error["message"]
    stream = api.get(f"/api/audit/streams/{stream_id}", "auditor").json()
    assert any(e["redacted"] and e["data"] == {} for e in stream["data"]["events"])


# --- the live feed ------------------------------------------------------------------------------------------------

LIVE = "/api/realtime/metrics"


def _snapshot(socket: Any, within: float) -> dict[str, Any]:
    decoded: dict[str, Any] = msgspec.json.decode(socket.receive_bytes(timeout=within))
    assert decoded["status"] == "success"
    data: dict[str, Any] = decoded["data"]
    return data


def test_the_live_feed_sends_a_snapshot_then_each_change(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.token('ana', 'analyst')}"}
    with api.client.websocket_connect(LIVE, headers=headers) as socket:
        assert _snapshot(socket, within=5)["daily_active_users"] == 0
        person, moment = uuid.uuid4(), NOW - timedelta(minutes=1)
        send(
            api.container,
            consent(person, analytics=True, at=moment),
            event("post_liked", person, {"post_id": "p"}, at=moment),
        )
        api.container.live_activity.catch_up()
        # What arrives, with a deadline a busy runner meets; the 1-second promise is timed against the served
        # process in tests/e2e/test_realtime_served.py.
        changed = _snapshot(socket, within=10.0)
        assert (changed["daily_active_users"], changed["online_now"]) == (1, 1)


def test_the_live_feed_accepts_the_token_in_the_authorization_header(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.token('root', 'admin')}"}
    with api.client.websocket_connect(LIVE, headers=headers) as socket:
        assert "daily_active_users" in _snapshot(socket, within=5)
        with pytest.raises(queue.Empty):  # nothing changed, nothing is sent
            socket.receive_bytes(timeout=0.7)


def test_the_live_feed_closes_with_4401_on_a_missing_or_bad_token(api: Api) -> None:
    expired = api.container.tokens.mint("ana", "analyst", valid_for=timedelta(hours=-1))
    for headers in ({}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": f"Bearer {expired}"}):
        with (
            api.client.websocket_connect(LIVE, headers=headers) as socket,
            pytest.raises(WebSocketDisconnect) as closed,
        ):
            socket.receive_bytes(timeout=5)
        assert closed.value.code == 4401, headers
