"""Ports of API access: the request counters and the tamper-evident access log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final, Literal, Protocol

import msgspec

from application.principals import Principal, Role

GENESIS_HASH: Final = "0" * 64
Outcome = Literal["allowed", "denied", "error", "rate_limited", "rechain"]  # rechain: see access_log.anchor_entry

__all__ = [
    "GENESIS_HASH",
    "AccessEntry",
    "AccessLog",
    "AccessRecord",
    "ApiRateCounter",
    "DashboardSession",
    "Outcome",
    "QuotaDecision",
    "SessionStore",
    "Tokens",
    "VerifyReport",
]


class QuotaDecision(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to one request, with what the RateLimit-* and Retry-After headers need.

    ``remaining``: requests still allowed now. ``reset_seconds``: whole seconds
    until the window has slid enough to give back one more request (ceiling;
    at least 1). ``retry_after``: for a refused request, the same number; None
    when allowed.
    """

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    retry_after: int | None = None


class ApiRateCounter(Protocol):
    """Counts one request of the user behind ``principal_key`` (already a keyed hash) and decides on it."""

    # True when a hit is one statement that never waits long for another writer, so that an event loop may count
    # it itself; False when hits should be counted together in a thread of their own (application.batching).
    counts_inline: bool = False

    def hit(self, principal_key: str, now: datetime) -> QuotaDecision: ...

    def hit_many(self, hits: Sequence[tuple[str, datetime]]) -> list[QuotaDecision]:
        """``hit`` for each (principal key, now), in order, in one transaction."""


class AccessEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One API request, as the HTTP layer describes it; the log adds seq and hashes.

    ``principal`` is already safe to keep (a keyed hash of the subject, a
    label such as ``"service"``, or for refusals of an unknown caller the
    anonymised network ``net:…``); ``route`` is the route template
    (``/api/metrics/flourish-index``), never the requested path or its query.
    ``requests``: 1, or for a summary of refused requests
    (application.api_access.denials), how many were refused in the minute
    starting at ``at``. ``about``: for an admin's or auditor's read of one
    person's data, whose (application.api_access.people.person_hash); else empty.
    """

    at: datetime
    principal: str
    role: str
    method: str
    route: str
    status: int
    outcome: Outcome
    requests: int = 1
    about: str = ""


class AccessRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A stored entry: its place in the log and its link to the record before."""

    seq: int
    at: datetime
    principal: str
    role: str
    method: str
    route: str
    status: int
    outcome: Outcome
    prev_hash: str
    hash: str
    requests: int = 1
    about: str = ""


class VerifyReport(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of ``AccessLog.verify``.

    ``records``: how many were checked and found good before the first problem.
    ``first_bad_seq``: the seq where the chain first breaks (for a missing
    record, the seq that should have been there). ``head_hash``: the verified
    head; kept elsewhere, it lets a later check see a log truncated to empty.
    ``checkpoint``: when ok, ``RECORDS:HASH`` for the operator to keep outside
    the database and give back to ``addvalue audit verify --expect``.
    """

    ok: bool
    records: int
    first_bad_seq: int | None = None
    problem: str | None = None
    head_hash: str = GENESIS_HASH
    checkpoint: str | None = None


class AccessLog(Protocol):
    """The tamper-evident API access log (SQLite or PostgreSQL)."""

    def append(self, entry: AccessEntry) -> AccessRecord:
        """Store ``entry`` as the next record; safe across threads and processes."""

    def append_many(self, entries: Sequence[AccessEntry]) -> list[AccessRecord]:
        """Store ``entries`` as the next records, in order, in one transaction (one head lock, one commit)."""

    def page(self, after_seq: int, limit: int) -> list[AccessRecord]:
        """Up to ``limit`` records with seq above ``after_seq``, oldest first."""

    def verify(self) -> VerifyReport:
        """Check every record's hash and link, and the head, in one consistent read."""

    def rechain(self, keys: Sequence[bytes], at: datetime) -> list[AccessRecord]:
        """Verify the whole log, then go on under the newest of ``keys`` (one per root secret, oldest first, those
        the log was written with among them): one anchor record per root it had not reached, head signed anew.

        Raises ``ChainNotVerified`` (nothing changed) when the log does not verify.
        """


class Tokens(Protocol):
    """Bearer tokens: who sends a request, and development tokens minted from the configured secret."""

    def verify(self, token: str) -> Principal:
        """The principal the token names; raises when it is not valid (adapters.api_access.tokens.InvalidToken)."""

    def mint(self, subject: str, role: Role, *, valid_for: timedelta = ...) -> str:
        """A signed token for ``subject`` in ``role``."""

    def valid_until_expiry(self, token: str) -> bool:
        """Whether ``token``, once verified, stays valid until its ``exp`` whatever happens meanwhile: signed
        with a secret that only a restart changes, not by a key its issuer may withdraw from a JWKS."""


class DashboardSession(msgspec.Struct, frozen=True, kw_only=True):
    """A signed-in browser: who, the CSRF token its forms carry, and when it ends."""

    principal: Principal
    csrf: str
    expires_at: datetime


class SessionStore(Protocol):
    """Dashboard sign-in links and sessions, kept by the SHA-256 of their secret (SQLite or PostgreSQL)."""

    def put_link(self, digest: bytes, principal: Principal, expires_at: datetime) -> None:
        """Keep a one-time sign-in link."""

    def take_link(self, digest: bytes, now: datetime) -> Principal | None:
        """Delete the link and say whom it signs in; None when unknown or expired (taken once, atomically)."""

    def put_session(self, digest: bytes, session: DashboardSession) -> None:
        """Keep a session."""

    def session(self, digest: bytes, now: datetime) -> DashboardSession | None:
        """The session, while it has not expired or been revoked."""

    def revoke(self, digest: bytes) -> None:
        """Delete the session (signing out)."""

    def prune(self, now: datetime) -> None:
        """Delete expired links and sessions."""
