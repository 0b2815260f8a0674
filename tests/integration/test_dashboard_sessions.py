"""Dashboard sign-in links and sessions, kept on SQLite and PostgreSQL (adapters/api_access/sessions.py)
and used through ``SignIn`` with an injected clock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from adapters.api_access.sessions import PostgresSessionStore, SqliteSessionStore, build_session_store
from application.api_access.sign_in import LINK_VALID, SESSION_MAX, SignIn, csrf_matches
from application.principals import Principal
from entrypoints.settings import Settings


class _Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 12, 1, 9, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


@pytest.fixture
def store(settings: Settings) -> Iterator[SqliteSessionStore | PostgresSessionStore]:
    built = build_session_store(settings.database)
    yield built
    built.close()


def test_a_link_signs_in_once_and_only_within_ten_minutes(store: SqliteSessionStore | PostgresSessionStore) -> None:
    clock = _Clock()
    sign_in = SignIn(store, clock)
    link = sign_in.link_for("analyst", "ana")
    opened = sign_in.redeem(link)
    assert opened is not None
    assert opened.session.principal == Principal(subject="ana", role="analyst")
    assert opened.session.expires_at == clock.at + SESSION_MAX
    assert sign_in.redeem(link) is None  # taken once
    late = sign_in.link_for("admin", "root")
    clock.at += LINK_VALID + timedelta(seconds=1)
    assert sign_in.redeem(late) is None
    assert sign_in.redeem("never-issued") is None


def test_a_session_ends_with_its_token_or_after_twelve_hours_and_when_signed_out(
    store: SqliteSessionStore | PostgresSessionStore,
) -> None:
    clock = _Clock()
    sign_in = SignIn(store, clock)
    short = sign_in.open(Principal(subject="u", role="user"), clock.at + timedelta(minutes=5))
    long = sign_in.open(Principal(subject="v", role="user"), clock.at + timedelta(days=3))
    assert long.session.expires_at == clock.at + SESSION_MAX
    found = sign_in.session(short.session_id)
    assert found is not None
    assert csrf_matches(found, short.session.csrf)
    assert not csrf_matches(found, None)
    assert not csrf_matches(found, long.session.csrf)
    clock.at += timedelta(minutes=6)
    assert sign_in.session(short.session_id) is None
    assert sign_in.session(long.session_id) is not None
    sign_in.sign_out(long.session_id)
    assert sign_in.session(long.session_id) is None


def test_two_browsers_opening_one_link_at_once_get_one_session(
    store: SqliteSessionStore | PostgresSessionStore,
) -> None:
    sign_in = SignIn(store, _Clock())
    link = sign_in.link_for("analyst", "ana")
    opened: list[object] = []
    barrier = threading.Barrier(4)

    def open_it() -> None:
        barrier.wait()
        opened.append(sign_in.redeem(link))

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(o is not None for o in opened) == 1


def test_only_digests_of_the_secrets_are_stored(store: SqliteSessionStore | PostgresSessionStore) -> None:
    sign_in = SignIn(store, _Clock())
    opened = sign_in.open(Principal(subject="u", role="user"), datetime(2026, 12, 1, 10, tzinfo=UTC))
    assert store.session(opened.session_id.encode(), datetime(2026, 12, 1, 9, tzinfo=UTC)) is None
