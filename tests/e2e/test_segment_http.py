"""The Segment-compatible routes through the real Litestar app, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import gzip
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from application.errors import StorageError
from application.principals import Principal
from application.sources.mapping import MESSAGE_ID_NAMESPACE
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.fakes import consent as consent_event
from tests.segment_messages import DEFAULT_USER, consent_message, track
from tests.strategies import JSON_VALUES

Client = TestClient  # type: ignore[type-arg]
KEY = "ios-app-key-" + "k" * 20
BACKEND_KEY = "backend-key-" + "b" * 20
SERVICE = Principal(subject="backend", role="service")


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    built = bootstrap(msgspec.structs.replace(settings, write_keys={KEY: "ios-app", BACKEND_KEY: "backend"}))
    yield built
    built.close()


@pytest.fixture
def client(container: Container) -> Iterator[Client]:
    with TestClient(app=create_app(container, run_jobs=False)) as test_client:
        yield test_client


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def body(*messages: dict[str, Any], **fields: Any) -> bytes:
    return msgspec.json.encode({"batch": list(messages), **fields})


def stored(container: Container, *message_ids: str) -> set[uuid.UUID]:
    wanted = {uuid.UUID(m) for m in message_ids}
    return container.store.ledger.known_event_ids(wanted)


def granted(container: Container, user: uuid.UUID | str = DEFAULT_USER) -> None:
    """Consent given the way a write key cannot: by the backend, with a service token."""
    report = container.ingestion.ingest(
        [consent_event(uuid.UUID(str(user)), analytics=True)], sent_at=None, principal=SERVICE
    )
    assert report.accepted == 1, report


def test_a_batch_with_the_write_key_as_basic_username_is_stored(client: Client, container: Container) -> None:
    granted(container)
    left, joined = track("wave_left", {"wave_id": "w-1", "duration_seconds": 5}), track()
    response = client.post("/v1/batch", content=body(left, joined), headers=basic(KEY))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "success": True,
        "accepted": 2,
        "duplicates": 0,
        "rejected": [],
        "not_collected": 0,
        "ignored": 0,
    }
    assert len(stored(container, left["messageId"], joined["messageId"])) == 2


def test_the_mobile_sdks_batch_with_write_key_in_the_body_and_gzip_as_text_plain_is_stored(
    client: Client, container: Container
) -> None:
    consent = consent_message()
    compressed = gzip.compress(body(consent, writeKey=KEY))
    for headers in ({"Content-Type": "text/plain", "Content-Encoding": "gzip"}, {"Content-Type": "text/plain"}):
        response = client.post("/v1/b", content=compressed, headers=headers)
        assert response.status_code == 200, response.text
    assert response.json()["duplicates"] == 1  # the second time, without the header, it was read just the same
    assert stored(container, consent["messageId"])


def test_one_message_routes_take_the_type_from_the_path(client: Client, container: Container) -> None:
    user = uuid.uuid4()
    consent = {k: v for k, v in consent_message(user).items() if k != "type"}
    tracked = client.post("/v1/track", content=msgspec.json.encode({**consent, "writeKey": KEY}))
    assert tracked.json()["accepted"] == 1, tracked.text
    identified = client.post("/v1/identify", content=msgspec.json.encode({"userId": str(user)}), headers=basic(KEY))
    assert (identified.json()["accepted"], identified.json()["ignored"]) == (0, 1)
    screen = client.post("/v1/screen", content=msgspec.json.encode({**consent, "name": "Home"}), headers=basic(KEY))
    assert screen.json()["rejected"][0]["errors"][0]["path"] == "type"
    (entry,) = container.quarantine.entries()
    assert entry.source == "segment:ios-app"
    assert b"writeKey" not in (container.quarantine.payload(entry.id) or b"")


def test_a_non_uuid_message_id_is_deduplicated_as_its_uuid5(client: Client, container: Container) -> None:
    consent = consent_message(messageId="ajs-next-1700000000000-abc")
    first = client.post("/v1/batch", content=body(consent), headers=basic(KEY))
    again = client.post("/v1/batch", content=body(consent), headers=basic(KEY))
    assert (first.json()["accepted"], again.json()["duplicates"]) == (1, 1)
    derived = uuid.uuid5(MESSAGE_ID_NAMESPACE, "ios-app:ajs-next-1700000000000-abc")
    assert container.store.ledger.known_event_ids([derived]) == {derived}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("not-a-configured-key-000000"),
        basic(""),
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Bearer " + KEY},
    ],
)
def test_a_missing_or_wrong_write_key_is_401(client: Client, container: Container, headers: dict[str, str]) -> None:
    response = client.post("/v1/batch", content=body(consent_message()), headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["success"] is False
    assert response.headers["www-authenticate"].startswith("Basic")
    assert list(container.quarantine.entries()) == []


def test_a_wrong_key_in_the_header_is_not_rescued_by_the_body(client: Client) -> None:
    response = client.post("/v1/batch", content=body(writeKey=KEY), headers=basic("wrong-" + "x" * 20))
    assert response.status_code == 401
    wrong_body = client.post("/v1/b", content=body(writeKey="wrong-" + "x" * 20))
    assert wrong_body.status_code == 401


def gzip_bomb() -> bytes:
    return gzip.compress(b'{"batch":[{"pad":"' + b"0" * (2 * 1024 * 1024) + b'"}]}', mtime=0)


BAD_BODIES = {
    "gzip header, plain body": (b"not gzip at all", {"Content-Encoding": "gzip"}, "not valid gzip"),
    "truncated gzip": (gzip.compress(body(), mtime=0)[:-6], {"Content-Encoding": "gzip"}, "not valid gzip"),
    "data after the gzip stream": (gzip.compress(body(), mtime=0) + b"junk", {}, "not valid gzip"),
    "brotli": (body(), {"Content-Encoding": "br"}, "not supported"),
    "gzip bomb": (gzip_bomb(), {"Content-Encoding": "gzip"}, "500 KiB"),
    "over 500 KiB": (body(track(properties={"pad": "x" * 600_000})), {}, "500 KiB"),
    "2501 messages": (body(*([{}] * 2501)), {}, "at most 2500"),
    "not JSON": (b"{", {}, "not JSON"),
    "batch not a list": (b'{"batch": 3}', {}, "request body"),
    "nested too deeply": (b'{"batch":[' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"]}", {}, "not JSON"),
}


@pytest.mark.parametrize(("content", "headers", "words"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_body_that_cannot_be_read_or_is_too_big_is_400_with_a_reason(
    client: Client, content: bytes, headers: dict[str, str], words: str
) -> None:
    response = client.post("/v1/batch", content=content, headers={**basic(KEY), **headers})
    assert response.status_code == 400, response.text
    assert words in response.json()["detail"]


def test_one_message_over_32_kib_is_rejected_and_quarantined_alone(client: Client, container: Container) -> None:
    consent, big = consent_message(), track(properties={"wave_id": "w", "pad": "x" * 33_000})
    response = client.post("/v1/batch", content=body(consent, big), headers=basic(KEY))
    assert response.json()["accepted"] == 1
    (rejection,) = response.json()["rejected"]
    assert (rejection["index"], rejection["event_id"]) == (1, big["messageId"])
    assert "at most 32768" in rejection["errors"][0]["message"]
    assert [e.reasons[0].message for e in container.quarantine.entries()] == [rejection["errors"][0]["message"]]


def test_unknown_names_and_anonymous_messages_are_quarantined_even_when_nothing_else_is_sent(
    client: Client, container: Container
) -> None:
    response = client.post(
        "/v1/batch", content=body(track("Application Opened"), track(userId=None)), headers=basic(KEY)
    )
    assert [r["errors"][0]["path"] for r in response.json()["rejected"]] == ["event", "userId"]
    reasons = sorted(e.reasons[0].path for e in container.quarantine.entries())
    assert reasons == ["event", "userId"]


def test_the_batch_sent_at_corrects_a_device_clock_that_runs_three_hours_fast(client: Client) -> None:
    device_now = datetime.now(UTC) + timedelta(hours=3)
    consent = consent_message(at=device_now - timedelta(seconds=30))
    corrected = client.post("/v1/batch", content=body(consent, sentAt=device_now.isoformat()), headers=basic(KEY))
    assert corrected.json()["accepted"] == 1, corrected.text
    uncorrected = client.post("/v1/batch", content=body({**consent, "messageId": "2"}), headers=basic(KEY))
    assert "future" in uncorrected.json()["rejected"][0]["errors"][0]["message"]


def test_a_rejection_names_the_field_the_sdk_sent(client: Client) -> None:
    user = uuid.uuid4()
    bad = track("activation_round_completed", {"activation_id": "a", "round": 9, "duration_seconds": 1}, user_id=user)
    web = track(user_id=user, context={"device": {"type": "watch"}})
    response = client.post("/v1/batch", content=body(consent_message(user), bad, web), headers=basic(KEY))
    errors = {r["index"]: r["errors"][0] for r in response.json()["rejected"]}
    assert errors[1] == {"path": "properties.round", "message": "must be an integer between 1 and 8"}
    assert errors[2]["path"] == "context.device.type"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    content=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(str.encode),
        st.just(gzip.compress(b"{}")),
        st.just(gzip.compress(b"")),
    ),
    path=st.sampled_from(["/v1/batch", "/v1/b", "/v1/track", "/v1/identify", "/v1/alias"]),
)
def test_nothing_a_client_sends_causes_a_server_error(client: Client, content: bytes, path: str) -> None:
    response = client.post(path, content=content, headers=basic(KEY))
    assert response.status_code in (200, 400), response.text


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    field=st.sampled_from(
        ["type", "event", "userId", "messageId", "properties", "context", "timestamp", "originalTimestamp", "sentAt"]
    ),
    value=JSON_VALUES,
    shared=st.sampled_from(["context", "sentAt", "integrations"]),
    shared_value=JSON_VALUES,
)
def test_a_message_with_any_field_replaced_by_any_json_is_answered_never_an_error(
    client: Client, field: str, value: object, shared: str, shared_value: object
) -> None:
    message = {**track(), field: value}
    response = client.post("/v1/batch", content=body(message, **{shared: shared_value}), headers=basic(KEY))
    assert response.status_code in (200, 400), response.text


def test_the_mobile_sdks_settings_call_enables_their_segment_destination_for_a_known_key_only(client: Client) -> None:
    known = client.get(f"/v1/projects/{KEY}/settings")
    assert known.status_code == 200
    assert known.json() == {"integrations": {"Segment.io": {"apiKey": KEY}}}
    assert client.get("/v1/projects/not-a-configured-key-0000/settings").status_code == 404


@pytest.mark.parametrize(
    ("failure", "status"), [(StorageError("database unreachable"), 503), (RuntimeError("a bug"), 500)]
)
def test_a_failure_on_our_side_is_answered_in_segments_shape_with_success_false(
    client: Client, container: Container, monkeypatch: pytest.MonkeyPatch, failure: Exception, status: int
) -> None:
    def broken(prepared: object) -> object:
        raise failure

    monkeypatch.setattr(container.group_commit, "submit", broken)
    answer = client.post("/v1/batch", content=body(track("post_liked", {"post_id": "p"})), headers=basic(KEY))
    assert answer.status_code == status
    assert answer.json()["success"] is False
    assert ("retry-after" in answer.headers) is (status == 503)
