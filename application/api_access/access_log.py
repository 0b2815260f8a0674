"""The API access log: one record per request, each chained by hash to the one before.

A record holds who (a keyed hash or a role-level label, never a name), the
role, the method, the route template, the status, the outcome and the time;
never a concrete path, a query value or any other personal data.

Record ``seq`` (1, 2, 3, …) carries ``prev_hash``, the ``hash`` of record
``seq - 1`` (64 zeros for record 1), and its own ``hash``: the hex SHA-256, or
HMAC-SHA256 when the log has a key, of the canonical encoding of every other
field (see ``canonical_bytes``). The store also keeps a head, the last
``seq`` and ``hash`` and a MAC over both (``head_mac``), updated in the same
transaction as each append, so that removing the newest records shows too:
without the key nobody can point the head at an earlier record. ``verify_chain``
checks all of it.

The key is derived from the key store's newest root secret. ``addvalue keys
rotate-root`` re-chains the log from a verified anchor: the whole log is
verified first, then an *anchor* record (outcome ``rechain``, route
``/keys/rotate-root``) is sealed under the new root's key, linked to the
verified head, and the head is signed with it. Each anchor moves verification
on to the next root's key, so the records before it keep their hashes (and
operators' checkpoints stay valid) while nothing after it verifies under a
retired root. The anchor names what was verified, so an auditor sees where and
why the chain's key changed.

What the database alone cannot show is a head put back from an earlier copy
(its MAC is genuine, only old). For that, ``verify`` gives a ``Checkpoint``
(records and head hash) to keep outside the database, and ``verify_against``
checks the log still holds that record with that hash.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Iterable, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Final

import msgspec

from application.api_access.ports import GENESIS_HASH, AccessEntry, AccessLog, AccessRecord, Outcome, VerifyReport
from application.batching import Batcher
from application.errors import StorageError

__all__ = [
    "GENESIS_HASH",
    "RECHAIN_ROUTE",
    "AccessLogWriter",
    "ChainHead",
    "ChainNotVerified",
    "Checkpoint",
    "Outcome",
    "SignedHead",
    "TamperedHead",
    "UnreadableRecord",
    "anchor_entry",
    "authentic_head",
    "canonical_bytes",
    "chain_hash",
    "head_mac",
    "rechained",
    "seal",
    "verify_against",
    "verify_chain",
]

OUTCOMES: Final = frozenset({"allowed", "denied", "error", "rate_limited", "rechain"})
RECHAIN_ROUTE: Final = "/keys/rotate-root"


class _Hashed(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    # The canonical form: AccessRecord's fields in its order, without ``hash``. ``requests`` and ``about`` come last and
    # only when not 1 and empty, so records written before it existed keep their hashes.
    seq: int
    at: datetime
    principal: str
    role: str
    method: str
    route: str
    status: int
    outcome: str
    prev_hash: str
    requests: int = 1
    about: str = ""


class ChainHead(msgspec.Struct, frozen=True, kw_only=True):
    """The last record's seq and hash, as the store keeps them beside the log (0 and zeros when empty)."""

    seq: int
    hash: str


class SignedHead(msgspec.Struct, frozen=True, kw_only=True):
    """The head row as stored: the last record's seq and hash, and ``head_mac`` over both."""

    seq: int
    hash: str
    mac: str


class TamperedHead(StorageError):
    """The head row's MAC does not match its seq and hash: appending after it would hide what was removed."""

    def __init__(self, seq: int) -> None:
        super().__init__(
            f"the access log's head (record {seq}) is not authentic: it was edited, e.g. to hide removed"
            " records; nothing is appended until an operator has run `addvalue audit verify`"
        )


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    """What ``addvalue audit verify`` prints as ``RECORDS:HASH``, for the operator to keep outside the database."""

    records: int
    hash: str

    def __str__(self) -> str:
        return f"{self.records}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """``RECORDS:HASH`` as ``verify`` printed it; ValueError says what is wrong."""
        records, sep, hash_ = text.strip().partition(":")
        if not sep or not records.isdigit() or len(hash_) != len(GENESIS_HASH):
            raise ValueError(f"checkpoint {text!r} is not RECORDS:HASH as `addvalue audit verify` prints it")
        if any(c not in "0123456789abcdef" for c in hash_):
            raise ValueError(f"checkpoint {text!r}: the hash must be 64 lower-case hex digits")
        return cls(records=int(records), hash=hash_)


class UnreadableRecord(StorageError):
    """A stored row no longer decodes into an ``AccessRecord`` (it was altered); ``verify`` reports it."""

    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(f"record {seq} cannot be read: {reason}")
        self.seq = seq


class ChainNotVerified(StorageError):
    """The log did not verify, so it was not re-chained: a re-chain would sign whatever was altered."""

    def __init__(self, report: VerifyReport) -> None:
        super().__init__(f"the access log does not verify, so it was not re-chained: {report.problem}")
        self.report = report


class AccessLogWriter:
    """Group commit for the access log: the records of concurrent requests in one transaction.

    ``submit`` checks the entry (a bad one fails alone, at once) and queues it;
    one thread appends whatever has queued with ``AccessLog.append_many``, so
    the chain is written in queue order, with one head lock and one commit per
    batch instead of per request. The future resolves once the record is
    committed: a request's answer is sent after that, as before.
    """

    def __init__(self, log: AccessLog, *, max_batch: int = 500) -> None:
        self._log = log
        self._batcher: Batcher[AccessEntry, AccessRecord] = Batcher(
            log.append_many, name="access-log-writer", max_items=max_batch
        )

    def submit(self, entry: AccessEntry) -> Future[AccessRecord]:
        _check(entry)
        return self._batcher.submit(entry)

    def submit_waiting(self, entry: AccessEntry) -> Awaitable[AccessRecord]:
        """As ``submit``, awaited on the running event loop (see ``Batcher.submit_waiting``)."""
        _check(entry)
        return self._batcher.submit_waiting(entry)

    @property
    def batches_written(self) -> int:
        return self._batcher.batches_written


def canonical_bytes(record: AccessRecord) -> bytes:
    """What the hash covers: msgspec JSON of all fields but ``hash``, in field order, ``at`` in UTC."""
    fields = msgspec.structs.asdict(record)
    del fields["hash"]
    return msgspec.json.encode(_Hashed(**fields))


def chain_hash(body: bytes, key: bytes | None) -> str:
    if key is None:
        return hashlib.sha256(body).hexdigest()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def head_mac(seq: int, hash_: str, key: bytes | None) -> str:
    """What authenticates the head: HMAC-SHA256 of seq and hash (plain SHA-256, so no protection, without a key)."""
    body = f"addvalue access-log head\0{seq}\0{hash_}".encode()
    return chain_hash(body, key)


def authentic_head(head: SignedHead, key: bytes | None) -> ChainHead:
    """``head`` without its MAC once the MAC is checked; TamperedHead when it does not match."""
    if not hmac.compare_digest(head_mac(head.seq, head.hash, key), head.mac):
        raise TamperedHead(head.seq)
    return ChainHead(seq=head.seq, hash=head.hash)


def seal(entry: AccessEntry, head: ChainHead, key: bytes | None) -> AccessRecord:
    """The record that follows ``head``; ValueError says what in ``entry`` may not be logged."""
    _check(entry)
    fields = msgspec.structs.asdict(entry)
    fields["at"] = entry.at.astimezone(UTC)
    unsealed = AccessRecord(seq=head.seq + 1, prev_hash=head.hash, hash="", **fields)
    return msgspec.structs.replace(unsealed, hash=chain_hash(canonical_bytes(unsealed), key))


def _check(entry: AccessEntry) -> None:
    if entry.at.tzinfo is None:
        raise ValueError("AccessEntry.at must be timezone-aware: pass the Clock's time (UTC)")
    if entry.outcome not in OUTCOMES:
        raise ValueError(f"AccessEntry.outcome {entry.outcome!r} is not one of {sorted(OUTCOMES)}")
    if entry.requests < 1:
        raise ValueError(f"AccessEntry.requests must be at least 1, not {entry.requests}")
    if not entry.route.startswith("/") or "?" in entry.route or "#" in entry.route:
        raise ValueError("AccessEntry.route must be the route template (/api/...), without a query")


def verify_chain(
    records: Iterable[AccessRecord], stored: SignedHead | None, key: bytes | None, *, earlier: Sequence[bytes] = ()
) -> VerifyReport:
    """Check ``records`` (in seq order, all of them) against each other and against the ``stored`` head.

    ``earlier``: the keys of the roots before ``key``'s, oldest first; each anchor record moves on to the next.
    """
    keys = [*earlier, key]
    report, reached = _walk(records, stored, keys)
    if report.ok and reached < len(keys) - 1:
        return _broken(
            ChainHead(seq=report.records, hash=report.head_hash),
            report.records + 1,
            f"the log was re-chained up to root {reached + 1} of the key store's {len(keys)}: `addvalue keys "
            "rotate-root` did not finish (run it again), or anchor records were removed",
        )
    return report


def rechained(
    records: Iterable[AccessRecord], stored: SignedHead | None, keys: Sequence[bytes], at: datetime
) -> list[AccessRecord]:
    """The anchor records that take the log on to the newest of ``keys``, after verifying it (ChainNotVerified)."""
    report, reached = _walk(records, stored, keys)
    if not report.ok:
        raise ChainNotVerified(report)
    head, anchors = ChainHead(seq=report.records, hash=report.head_hash), []
    for root in range(reached + 1, len(keys)):
        anchor = seal(anchor_entry(at, root + 1, head), head, keys[root])
        anchors.append(anchor)
        head = ChainHead(seq=anchor.seq, hash=anchor.hash)
    return anchors


def anchor_entry(at: datetime, root: int, verified: ChainHead) -> AccessEntry:
    """The record that starts the stretch of the chain under root number ``root`` (1 = the first)."""
    return AccessEntry(
        at=at,
        principal="operator",
        role="operator",
        method="ROTATE",
        route=RECHAIN_ROUTE,
        status=0,
        outcome="rechain",
        about=f"re-chained to root {root}: records 1-{verified.seq} verified, head {verified.hash}",
    )


def _walk(
    records: Iterable[AccessRecord], stored: SignedHead | None, keys: Sequence[bytes | None]
) -> tuple[VerifyReport, int]:
    """Verify ``records`` and ``stored``; and the index in ``keys`` the log has reached (one per anchor)."""
    last, reached = ChainHead(seq=0, hash=GENESIS_HASH), 0
    try:
        for record in records:
            if record.outcome == "rechain":
                reached += 1  # an anchor is sealed under the next root's key: forging one takes that key
                if reached >= len(keys):
                    lacking = f"record {record.seq} is an anchor for root {reached + 1}, which the key store lacks"
                    return _broken(last, record.seq, lacking), reached
            problem = _link_problem(record, last, keys[reached])
            if problem is not None:
                return _broken(last, last.seq + 1, problem), reached
            last = ChainHead(seq=record.seq, hash=record.hash)
    except UnreadableRecord as e:
        return _broken(last, e.seq, str(e)), reached
    return _head_problem(last, stored, keys[reached]), reached


def _head_problem(last: ChainHead, stored: SignedHead | None, key: bytes | None) -> VerifyReport:
    if stored is None:
        return _broken(last, last.seq + 1, "the head row is missing: it was deleted")
    try:
        head = authentic_head(stored, key)
    except TamperedHead:
        return _broken(
            last,
            stored.seq + 1,
            f"the head (record {stored.seq}) does not match its MAC: it was edited, e.g. to hide records removed"
            " after it (or the log was written with another key)",
        )
    if head.seq > last.seq:
        return _broken(last, last.seq + 1, f"the head names record {head.seq} but the log ends at {last.seq}")
    if head.seq < last.seq:
        return _broken(
            head, head.seq + 1, f"records {head.seq + 1}–{last.seq} come after the head: added behind its back"
        )
    if head.hash != last.hash:
        return _broken(last, head.seq, f"the head (record {head.seq}) does not match the log's last record")
    return VerifyReport(ok=True, records=last.seq, head_hash=last.hash, checkpoint=f"{last.seq}:{last.hash}")


def verify_against(log: AccessLog, checkpoint: Checkpoint) -> VerifyReport:
    """``log.verify()``, and then: does the log still hold record ``checkpoint.records`` with that hash?

    Catches what the log alone cannot: records removed after the checkpoint
    with an earlier, genuine head put back in front of them.
    """
    report = log.verify()
    if not report.ok:
        return report
    if report.records < checkpoint.records:
        return _broken(
            ChainHead(seq=report.records, hash=report.head_hash),
            report.records + 1,
            f"the log ends at record {report.records} but the checkpoint {checkpoint} says it had"
            f" {checkpoint.records}: records were removed",
        )
    found = log.page(checkpoint.records - 1, 1)[0].hash if checkpoint.records else GENESIS_HASH
    if found != checkpoint.hash:
        return _broken(
            ChainHead(seq=checkpoint.records - 1, hash=""),
            checkpoint.records,
            f"record {checkpoint.records} does not have the checkpoint's hash: the log was rewritten"
            " (or the checkpoint is from another log)",
        )
    return report


def _link_problem(record: AccessRecord, last: ChainHead, key: bytes | None) -> str | None:
    expected = last.seq + 1
    if record.seq != expected:
        return f"record {expected} is missing (the next stored record is {record.seq})"
    if record.prev_hash != last.hash:
        return f"record {expected} does not link to record {last.seq}: one was changed, removed or inserted"
    if not hmac.compare_digest(chain_hash(canonical_bytes(record), key), record.hash):
        hint = " (or the log was written with another key, or none)" if expected == 1 else ""
        return f"record {expected} does not match its hash: it was changed{hint}"
    return None


def _broken(last: ChainHead, seq: int, problem: str) -> VerifyReport:
    return VerifyReport(ok=False, records=last.seq, first_bad_seq=seq, problem=problem, head_hash=last.hash)
