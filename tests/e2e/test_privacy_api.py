"""The person's own data through the API, on SQLite and PostgreSQL: consent, export, erasure (Art. 7, 15, 17, 20)."""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from litestar.testing import TestClient

from adapters.encryption.keystore import PostgresKeyStore
from adapters.eventstore.persistence import build_key_store
from application.ports import KeyStore
from application.principals import Principal
from entrypoints.bootstrap import Container, Overrides, bootstrap
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.fakes import consent, event, feedback

SERVICE = Principal(subject="tests", role="service")


@pytest.fixture
def client(container: Container) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(container, run_jobs=False)) as test_client:
        yield test_client


def as_user(container: Container, user: uuid.UUID) -> dict[str, str]:
    return {"Authorization": f"Bearer {container.tokens.mint(str(user), 'user')}"}


def as_admin(container: Container) -> dict[str, str]:
    return {"Authorization": f"Bearer {container.tokens.mint('admin-1', 'admin')}"}


def send(container: Container, *raw: bytes) -> tuple[int, int]:
    report = container.ingestion.ingest(list(raw), sent_at=None, principal=SERVICE)
    return report.accepted, report.not_collected


def test_consent_is_read_changed_and_its_history_kept_and_a_withdrawal_stops_collection(
    container: Container, client: TestClient[Any]
) -> None:
    person = uuid.uuid4()
    send(container, consent(person, analytics=True))
    me = as_user(container, person)
    current = client.get(f"/api/users/{person}/consent", headers=me).json()["data"]
    assert current["choice"] == {"analytics": True, "personalization": False, "marketing": False, "location": False}

    queued = feedback(person, "queued offline", at=datetime.now(UTC) - timedelta(seconds=1))
    withdrawn = {"analytics": False, "personalization": False, "marketing": False, "location": False}
    answer = client.put(f"/api/users/{person}/consent", headers=me, json=withdrawn)
    assert answer.status_code == 200, answer.text
    # An event queued offline before the withdrawal (its time is earlier) and sent after it is not collected.
    assert send(container, queued) == (0, 1)

    regranted = {**withdrawn, "analytics": True}
    assert client.put(f"/api/users/{person}/consent", headers=as_admin(container), json=regranted).status_code == 200
    history = client.get(f"/api/users/{person}/consent/history", headers=me).json()["data"]["changes"]
    assert [(c["source"], c["changed_by"], c["choice"]["analytics"]) for c in history] == [
        ("app_event", "service:tests", True),
        ("api", f"user:{person}", False),
        ("api", "admin:admin-1", True),
    ]
    assert send(container, feedback(person, "after the new grant")) == (1, 0)


def test_a_consent_change_must_give_every_purpose_and_only_for_oneself(
    container: Container, client: TestClient[Any]
) -> None:
    person, other = uuid.uuid4(), uuid.uuid4()
    partial = client.put(f"/api/users/{person}/consent", headers=as_user(container, person), json={"analytics": True})
    assert partial.status_code == 400
    assert "personalization" in partial.json()["error"]["message"]
    full = {"analytics": True, "personalization": True, "marketing": True, "location": True}
    refused = client.put(f"/api/users/{other}/consent", headers=as_user(container, person), json=full)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")


def test_the_export_holds_every_event_decrypted_with_a_csv_per_event_type(
    container: Container, client: TestClient[Any]
) -> None:
    person = uuid.uuid4()
    send(
        container,
        consent(person, analytics=True),
        feedback(person, "my own words"),
        event("post_liked", person, {"post_id": "p-1"}),
        event("post_liked", person, {"post_id": "p-2"}),
    )
    me = as_user(container, person)
    bundle = client.get(f"/api/users/{person}/export", headers=me).json()["data"]
    assert bundle["format"] == "addvalue-export/1"
    assert sorted(e["event_name"] for e in bundle["events"]) == [
        "post_liked",
        "post_liked",
        "user_consent_update",
        "wave_feedback_submitted",
    ]
    assert any(e["properties"].get("comment") == "my own words" for e in bundle["events"])
    assert bundle["consent"]["history"][0]["source"] == "app_event"

    packed = client.get(f"/api/users/{person}/export?format=zip", headers=me)
    assert packed.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(packed.content))
    assert set(archive.namelist()) == {
        "export.json",
        "events/post_liked.csv",
        "events/user_consent_update.csv",
        "events/wave_feedback_submitted.csv",
    }
    rows = list(csv.DictReader(io.StringIO(archive.read("events/post_liked.csv").decode())))
    assert sorted(r["post_id"] for r in rows) == ["p-1", "p-2"]
    assert client.get(f"/api/users/{person}/export", headers=as_user(container, uuid.uuid4())).status_code == 403


def test_erasure_answers_with_a_receipt_and_the_person_is_gone_from_every_answer_at_once(
    container: Container, client: TestClient[Any]
) -> None:
    person = uuid.uuid4()
    send(container, consent(person, analytics=True), feedback(person, "soon gone"))
    me = as_user(container, person)
    refused = client.delete(f"/api/users/{person}?now=true", headers=me)
    assert refused.status_code == 403  # only an admin skips the grace period
    receipt = client.delete(f"/api/users/{person}", headers=me)
    assert receipt.status_code == 200, receipt.text
    done = receipt.json()["data"]
    assert done["key_destroyed"] is False
    assert str(person) not in receipt.text  # the receipt names no one
    for path in ("export", "consent", "consent/history"):
        gone = client.get(f"/api/users/{person}/{path}", headers=me)
        assert (gone.status_code, gone.json()["error"]["code"]) == (404, "not_found"), path
    assert client.get(f"/api/metrics/user-activity?user_id={person}", headers=me).status_code == 404
    assert send(container, feedback(person, "from an offline queue")) == (0, 1)
    again = client.delete(f"/api/users/{person}", headers=as_admin(container))
    assert again.json()["data"]["requested_at"] == done["requested_at"]


def test_an_admins_erase_now_on_top_of_the_persons_pending_request_destroys_the_key(
    container: Container, client: TestClient[Any]
) -> None:
    person = uuid.uuid4()
    send(container, consent(person, analytics=True), feedback(person, "to be shredded"))
    subject = container.keys.subject_for(person, create=False)
    assert subject is not None
    pending = client.delete(f"/api/users/{person}", headers=as_user(container, person))
    assert pending.json()["data"]["key_destroyed"] is False
    now = client.delete(f"/api/users/{person}?now=true", headers=as_admin(container))
    assert now.status_code == 200, now.text
    assert now.json()["data"]["key_destroyed"] is True
    assert container.keys.data_key(subject) is None


class KeysThatKeepTheirKeys:
    """The real key store, except that its delete silently does nothing (a failed disk, a read-only replica)."""

    def __init__(self, inner: KeyStore) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def erase(self, subject_id: uuid.UUID) -> bool:
        return False


def test_an_erase_now_whose_key_survives_answers_an_error_not_a_receipt(settings: Settings) -> None:
    keys = build_key_store(settings.database, settings.master_key)
    container = bootstrap(settings, overrides=Overrides(keys=cast(KeyStore, KeysThatKeepTheirKeys(keys))))
    try:
        with TestClient(create_app(container, run_jobs=False)) as client:
            person = uuid.uuid4()
            send(container, consent(person, analytics=True))
            answer = client.delete(f"/api/users/{person}?now=true", headers=as_admin(container))
            assert (answer.status_code, answer.json()["error"]["code"]) == (500, "erasure_not_done")
            entry = container.erasures.find(person)
            assert entry is not None
            assert entry.completed_at is None  # still pending: erasure-due tries again
    finally:
        container.close()
        if isinstance(keys, PostgresKeyStore):  # the SQLite one holds no connection between calls
            keys.close()
