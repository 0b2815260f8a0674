"""On PostgreSQL the projections wake on NOTIFY: a new event is counted within seconds, not at the interval."""

from __future__ import annotations

import time
import uuid

import msgspec
from litestar.testing import TestClient

from entrypoints.bootstrap import bootstrap
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.fakes import consent

# Generous for a busy 2-core runner, and still a quarter of the 60 s interval that NOTIFY must beat.
DEADLINE = 15.0


def test_a_new_event_reaches_the_read_models_within_seconds(settings: Settings) -> None:
    # PostgreSQL: woken by NOTIFY, so even a 60 s interval does not delay it.
    # SQLite has no notifications: there the projections poll, here every 0.2 s.
    interval = 60.0 if settings.database.kind == "postgresql" else 0.2
    slow_polling = msgspec.structs.replace(settings, projection_interval_seconds=interval)
    container = bootstrap(slow_polling)
    user = uuid.uuid4()
    token = container.tokens.mint(str(user), "user")
    try:
        with TestClient(app=create_app(container)) as client:
            # No wait for the projection thread: it listens before its first pass, so an event committed
            # before it listens is read by that pass, and one committed after wakes it (entrypoints/scheduler.py).
            response = client.post(
                "/v1/events",
                content=b'{"batch":[' + consent(user, analytics=True) + b"]}",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.json()["accepted"] == 1
            target = container.store.recorder.max_notification_id()
            started = time.monotonic()
            while time.monotonic() - started < DEADLINE and container.live_activity.position() < target:
                time.sleep(0.05)
            lag = time.monotonic() - started
        assert container.live_activity.position() == target
        assert lag < DEADLINE, f"caught up after {lag:.1f} s; the polling interval is {interval} s"
    finally:
        container.close()
