"""The real segment-analytics-python client against ``addvalue serve``, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
from segment.analytics import Client as SegmentClient

from application.sources.mapping import MESSAGE_ID_NAMESPACE
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import load_settings
from tests.e2e.served import Served, start_served
from tests.fakes import consent

WRITE_KEY = "ios-app-write-key-" + "w" * 20
CONTEXT = {
    "device": {"type": "ios"},
    "os": {"name": "iOS"},
    "app": {"version": "2.4.1"},
    "locale": "en-US",
    "timezone": "Europe/Berlin",
    "sessionId": "session-1",
}


@pytest.fixture
def service(backend: str, tmp_path: Path) -> Iterator[Served]:
    """``addvalue serve`` with the app's write key, on SQLite and PostgreSQL."""
    with start_served(backend, tmp_path, env={"ADDVALUE_WRITE_KEYS": f"ios-app={WRITE_KEY}"}) as served:
        yield served


def sdk(base_url: str, errors: list[Exception], **options: object) -> SegmentClient:
    return SegmentClient(
        write_key=WRITE_KEY,
        host=base_url,
        on_error=lambda error, _batch: errors.append(error),
        max_retries=0,
        **options,
    )


@pytest.mark.parametrize("mode", ["sync", "batched gzip"])
def test_the_segment_python_sdk_sends_catalog_events_and_unknown_ones_land_in_quarantine(
    service: Served, mode: str
) -> None:
    errors: list[Exception] = []
    base_url = service.base_url
    client = sdk(base_url, errors, sync_mode=True) if mode == "sync" else sdk(base_url, errors, gzip=True)
    user = uuid.uuid4()
    # Consent comes from the backend (a service token): a write key is public and may only withdraw it.
    given = httpx.post(
        f"{base_url}/v1/events",
        content=b'{"batch":[' + consent(user, analytics=True) + b"]}",
        headers=service.bearer("backend", "service"),
        timeout=10,
    )
    assert given.json()["accepted"] == 1, given.text
    client.track(
        user_id=str(user), event="wave_joined", properties={"wave_id": "w-1"}, context=CONTEXT, message_id="m-1"
    )
    client.track(user_id=str(user), event="Application Opened", properties={"from_background": False}, context=CONTEXT)
    client.track(anonymous_id="anon-1", event="wave_joined", properties={"wave_id": "w-2"}, context=CONTEXT)
    client.identify(user_id=str(user))
    if mode != "sync":  # a sync client raises at once instead; it has no queue to drain
        client.flush()
        client.join()
    assert errors == []

    joined = uuid.uuid5(MESSAGE_ID_NAMESPACE, "ios-app:m-1")
    with bootstrap(load_settings(service.env)) as container:  # the service's database, read beside it
        assert container.store.ledger.known_event_ids([joined]) == {joined}
        subject = container.keys.subject_for(user, create=False)
        assert subject is not None
        history = msgspec.json.encode([entry.data for entry in container.history.of_subject(subject)])
        entries = list(container.quarantine.entries())
    for expected in (b"user_consent_update", b"wave_joined", str(joined).encode(), b'"device_type":"mobile"'):
        assert expected in history

    assert {entry.source for entry in entries} == {"segment:ios-app"}
    reasons = sorted((r.path, r.message) for entry in entries for r in entry.reasons)
    assert [path for path, _ in reasons] == ["event", "userId"]
    assert "'Application Opened' is not an event of the AddValue catalog" in reasons[0][1]
    assert "anonymous" in reasons[1][1]
    assert all(entry.has_payload for entry in entries)  # consented person, and an unlinkable anonymous one
