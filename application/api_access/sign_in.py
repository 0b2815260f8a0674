"""Sign-in to the dashboards: one-time links and bearer tokens, both turned into a server-side session.

Only a SHA-256 of each secret (link, session id) is stored, so a copy of the store signs nobody in. A link
is taken once (the store deletes it as it reads it) and lasts 10 minutes; a session lasts until its
token's ``exp`` or 12 hours, whichever comes first, and signing out deletes it. Each session has its own
CSRF token, which every state-changing form must send back.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

import msgspec

from application.api_access.ports import DashboardSession, SessionStore
from application.ports import Clock
from application.principals import Principal, Role

__all__ = ["LINK_VALID", "SESSION_MAX", "DashboardSession", "Opened", "SignIn"]

LINK_VALID: Final = timedelta(minutes=10)
SESSION_MAX: Final = timedelta(hours=12)


class Opened(msgspec.Struct, frozen=True, kw_only=True):
    """A session just opened: the secret for the cookie (never stored) and what the store keeps."""

    session_id: str
    session: DashboardSession


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


class SignIn:
    """Issues sign-in links, opens sessions from links or verified tokens, finds and revokes them."""

    def __init__(self, store: SessionStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._signed_out: list[Callable[[str], None]] = []

    def when_signed_out(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(session_id)`` after each sign-out of this process (from the thread that signs out),
        so what the session opened (a page's WebSocket) can end at once."""
        self._signed_out.append(listener)

    def link_for(self, role: Role, subject: str) -> str:
        """A one-time secret valid for 10 minutes; whoever opens it first is signed in as ``role``."""
        link = secrets.token_urlsafe(32)
        now = self._clock.now()
        self._store.prune(now)
        self._store.put_link(_digest(link), Principal(subject=subject, role=role), now + LINK_VALID)
        return link

    def redeem(self, link: str) -> Opened | None:
        """The session a link opens, or None when it is unknown, used or expired."""
        now = self._clock.now()
        principal = self._store.take_link(_digest(link), now)
        return None if principal is None else self._open(principal, now + SESSION_MAX)

    def open(self, principal: Principal, token_expires: datetime) -> Opened:
        """A session for a verified bearer token: it ends with the token, or after 12 hours."""
        now = self._clock.now()
        return self._open(principal, min(token_expires, now + SESSION_MAX))

    def _open(self, principal: Principal, until: datetime) -> Opened:
        session_id = secrets.token_urlsafe(32)
        session = DashboardSession(principal=principal, csrf=secrets.token_urlsafe(24), expires_at=until)
        self._store.put_session(_digest(session_id), session)
        return Opened(session_id=session_id, session=session)

    def session(self, session_id: str) -> DashboardSession | None:
        """The live session behind a cookie, or None (unknown, expired or signed out)."""
        return self._store.session(_digest(session_id), self._clock.now())

    def sign_out(self, session_id: str) -> None:
        self._store.revoke(_digest(session_id))
        for listener in self._signed_out:
            listener(session_id)


def csrf_matches(session: DashboardSession, sent: str | None) -> bool:
    """Whether a form's CSRF token is the session's (compared in constant time)."""
    return sent is not None and hmac.compare_digest(session.csrf.encode(), sent.encode())
