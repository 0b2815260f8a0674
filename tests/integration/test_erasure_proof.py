"""The proof of erasure: canaries planted in a person's data are nowhere to be found after ``--now``.

A feedback comment, a referral code and a rejected event carry canary strings.
Everything runs on them (projections, the jobs, the archive, an export, the API, logs);
then the person is erased at once. The whole database (``pg_dump`` of the
service's schemas on PostgreSQL, every file on SQLite) and everything logged
and the archive files hold 0 copies of the canaries, and 0 of the person's events decrypt.
Exports are streamed to the person, never stored: one asked for after the
erasure is refused.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from adapters.retention.archive import default_archive_dir
from application.errors import NotFound
from application.principals import Principal
from domain.redacted import RedactedEvent
from entrypoints.bootstrap import Container, Overrides, bootstrap
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.conftest import POSTGRES_URL
from tests.fakes import FixedClock, consent, event, feedback

SERVICE = Principal(subject="tests", role="service")


def database_bytes(settings: Settings) -> bytes:
    if settings.database.kind == "sqlite":
        assert settings.database.sqlite_path is not None
        folder = settings.database.sqlite_path.parent
        return b"".join(path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file())
    assert POSTGRES_URL is not None
    schema = settings.database.schema
    dump = subprocess.run(
        ["pg_dump", "--no-owner", f"--schema={schema}", f"--schema={schema}_keys", POSTGRES_URL],
        capture_output=True,
        check=True,
    )
    return dump.stdout


def archive_folder(container: Container) -> Path:
    return container.settings.archive_dir or default_archive_dir(container.settings.database)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.now(UTC) - timedelta(hours=3))  # received three hours ago, to be archived


@pytest.fixture
def container(settings: Settings, clock: FixedClock) -> Iterator[Container]:
    built = bootstrap(settings, overrides=Overrides(clock=clock))
    yield built
    built.close()


def test_after_erasure_now_no_canary_is_anywhere_and_nothing_decrypts(
    container: Container, settings: Settings, clock: FixedClock, capfd: pytest.CaptureFixture[str]
) -> None:
    person, bystander = uuid.uuid4(), uuid.uuid4()
    at = clock.now() - timedelta(minutes=5)
    canaries = [f"CANARY-{kind}-{uuid.uuid4().hex[:12]}" for kind in ("FEEDBACK", "REFERRAL", "REJECTED")]
    feedback_canary, referral_canary, rejected_canary = canaries
    report = container.ingestion.ingest(
        [
            consent(person, analytics=True, at=at),
            consent(bystander, analytics=True, at=at),
            event("user_signup", person, {"signup_method": "email", "referral_code": referral_canary[:32]}, at=at),
            feedback(person, feedback_canary, at=at),
            event("wave_feedback_submitted", person, {"wave_id": "w", "rating": 9, "comment": rejected_canary}, at=at),
            event("post_liked", bystander, {"post_id": "p"}, at=at),
        ],
        sent_at=None,
        principal=SERVICE,
    )
    assert (report.accepted, len(report.rejected)) == (5, 1)
    canaries[1] = referral_canary[:32]

    # Everything that reads the person's data runs on it.
    for projection in container.projections.values():
        projection.catch_up()
    for job in ("close-day", "daily-indices", "hourly-activity"):
        assert container.jobs.run(job).status == "succeeded"
    clock.current = datetime.now(UTC)
    archived = container.archiving.run(hot_for=timedelta(0))  # the person's sessions go to the archive files
    assert archived.events > 0
    exported = msgspec.json.encode(container.export.bundle(person))
    assert feedback_canary.encode() in exported  # the export had it: it went to the person, not to a file of ours
    with TestClient(create_app(container, run_jobs=False)) as client:
        me = {"Authorization": f"Bearer {container.tokens.mint(str(person), 'user')}"}
        assert client.get(f"/api/users/{person}/export", headers=me).status_code == 200
        assert any(c.encode() in database_bytes(settings) for c in canaries) is False  # encrypted at rest

        subject = container.keys.subject_for(person, create=False)
        assert subject is not None
        receipt = container.erasure.request(person, requested_by="test", grace=timedelta(0))
        assert receipt.key_destroyed
        for projection in container.projections.values():
            projection.rebuild()
        assert client.get(f"/api/users/{person}/export", headers=me).status_code == 404

    with pytest.raises(NotFound):
        container.export.bundle(person)
    dumped = database_bytes(settings)
    archive = b"".join(path.read_bytes() for path in archive_folder(container).rglob("*") if path.is_file())
    assert archive  # the files are there, and hold the person's events, unreadable
    logged = capfd.readouterr()
    for canary in canaries:
        assert canary.encode() not in dumped
        assert canary.encode() not in archive
        assert canary not in logged.out
        assert canary not in logged.err
    # The test's own HTTP client logs the URLs it asks for; the service itself logs no user id.
    service_lines = [line for line in (logged.out + logged.err).splitlines() if " - httpx - " not in line]
    assert not [line for line in service_lines if str(person) in line]

    container.store.forget_cached()
    readable: list[Any] = []
    for stored in container.store.recorder.select_notifications(1, 100_000):
        decoded = container.store.mapper.to_domain_event(stored)
        if getattr(decoded, "subject_id", None) == subject and not isinstance(decoded, RedactedEvent):
            readable.append(type(decoded).__qualname__)
    assert readable == ["User.Erased"]  # the readable proof of the erasure, with nothing personal in it
