"""Real-time counters on SQLite and PostgreSQL, against a straightforward count of what was sent."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from application.principals import Principal
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.cli.main import main
from entrypoints.overrides import Overrides
from entrypoints.settings import Settings
from tests.fakes import FixedClock, consent, event

SERVICE = Principal(subject="tests", role="service")


def send(container: Container, *raw: bytes) -> None:
    report = container.ingestion.ingest(list(raw), sent_at=None, principal=SERVICE)
    assert not report.rejected, report.rejected


# Noon, and the two minutes either side of midnight: "today" and "the last 5 minutes" part ways there.
TIMES_OF_DAY = [
    datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
    datetime(2026, 11, 25, 0, 1, tzinfo=UTC),
    datetime(2026, 11, 25, 23, 59, tzinfo=UTC),
]


@pytest.fixture(params=TIMES_OF_DAY, ids=lambda at: at.strftime("%H:%M"))
def clocked(settings: Settings, request: pytest.FixtureRequest) -> Iterator[tuple[Container, datetime]]:
    now: datetime = request.param
    with bootstrap(settings, overrides=Overrides(clock=FixedClock(now))) as built:
        yield built, now


def test_live_counters_follow_what_happened(clocked: tuple[Container, datetime]) -> None:
    container, now = clocked
    early = now - timedelta(minutes=30)  # yesterday when the clock reads 00:01
    ana, ben, cleo, dan = (uuid.uuid4() for _ in range(4))
    for person in (ana, ben, cleo):
        send(container, consent(person, analytics=True, at=early))
    # Joined 25 hours ago and never left: longer than anyone can stay in a Wave, so the app never said goodbye.
    send(container, consent(dan, analytics=True, at=now - timedelta(hours=26)))
    send(container, event("wave_joined", dan, {"wave_id": "w2"}, at=now - timedelta(hours=25)))
    send(
        container,
        event("wave_joined", ana, {"wave_id": "w1"}, at=now - timedelta(minutes=2)),
        event("activation_started", ana, {"activation_id": "a1"}, at=now - timedelta(minutes=1)),
        event("microact_created", ana, {"microact_id": "m1", "category": "kindness"}, at=now),
    )
    send(
        container,
        event("wave_joined", ben, {"wave_id": "w1"}, at=early),
        event("wave_left", ben, {"wave_id": "w1", "duration_seconds": 60}, at=early + timedelta(minutes=1)),
        event("activation_started", ben, {"activation_id": "b1"}, at=early),
        event("activation_completed", ben, {"activation_id": "b1", "duration_seconds": 60}, at=early),
    )
    send(container, event("wave_joined", cleo, {"wave_id": "w2"}, at=early))
    container.daily_counts.catch_up()
    container.live_activity.catch_up()

    snapshot = container.live_activity.snapshot(now)
    # ben and cleo acted half an hour ago: today at noon and at 23:59, yesterday at 00:01.
    assert snapshot.daily_active_users == (1 if now.hour == 0 else 3)
    assert snapshot.online_now == 1  # only ana did something in the last 5 minutes
    assert snapshot.wave_participants == {"w1": 1, "w2": 1}
    assert snapshot.activations_in_progress == 1
    assert snapshot.microacts_today == 1


def test_an_erased_person_leaves_the_live_counters_and_a_rebuild_does_not_bring_them_back(
    container: Container,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    kept, erased = uuid.uuid4(), uuid.uuid4()
    for person in (kept, erased):
        send(container, consent(person, analytics=True, at=now), event("wave_joined", person, {"wave_id": "w"}, at=now))
    container.live_activity.catch_up()
    assert container.live_activity.snapshot(now).wave_participants == {"w": 2}

    container.erasure.erase(erased, requested_by="test")
    container.live_activity.catch_up()  # sees the readable User.Erased record
    assert container.live_activity.snapshot(now).wave_participants == {"w": 1}
    assert container.live_activity.snapshot(now).daily_active_users == 1
    container.live_activity.rebuild()
    assert container.live_activity.snapshot(now).wave_participants == {"w": 1}


def test_projections_status_and_rebuild_from_the_command_line(
    container: Container, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = container.settings.database
    monkeypatch.setenv("ADDVALUE_DATABASE_URL", db.url if db.kind == "postgresql" else f"sqlite:///{db.sqlite_path}")
    monkeypatch.setenv("ADDVALUE_DATABASE_SCHEMA", db.schema)

    monkeypatch.setenv("ADDVALUE_MASTER_KEY", base64.b64encode(container.settings.master_key).decode())
    monkeypatch.setenv("ADDVALUE_JWT_SECRET", container.settings.jwt_secret)
    send(container, consent(uuid.uuid4(), analytics=True))
    assert main(["projections", "status"]) == 0
    status = {row["name"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    assert set(status) == {"daily_counts", "live_activity", "user_days"}
    assert all(row["behind"] > 0 for row in status.values())
    assert main(["projections", "rebuild", "--all"]) == 0
    rebuilt = capsys.readouterr().out
    assert "stored events/s" in rebuilt
    assert "catalog events/s" in rebuilt
    assert main(["projections", "status"]) == 0
    caught_up = {row["name"]: row["behind"] for row in map(json.loads, capsys.readouterr().out.splitlines())}
    assert caught_up == {"daily_counts": 0, "live_activity": 0, "user_days": 0}
    assert main(["projections", "rebuild", "nope"]) == 2
