"""``addvalue keys rotate-root``: a new root secret, and everything keyed by the old one moved on to it.

The key store's root secrets key the lookups from app user ids to subjects,
the erasure register's hashes, the staff principals' hashes in the access log
and the access log's HMAC (docs/security.md, Key hierarchy). Rotating the root:

1. finishes what an interrupted rotation left (the log's missing anchors, the
   register's rows behind), verifying the whole access log; a log that does
   not verify stops everything here, before anything changed;
2. adds the new root and steps every lookup digest on to it (one key-store
   transaction, application.rechain);
3. steps the erasure register's hashes on (one transaction; a register opened
   later catches up by itself, so erased people stay erased even if this
   command stops between 2 and 3);
4. re-chains the access log: an anchor record under the new root's key, linked
   to the verified head.

Every other process must be stopped meanwhile and restarted after (their
inserts of new subjects are refused until then, their appends to the log too).
"""

from __future__ import annotations

import time
from typing import Final

import msgspec

from application.api_access.ports import AccessLog
from application.ports import Clock, KeyStore
from application.privacy.ports import ErasureRegister

__all__ = ["ACCESS_LOG_PURPOSE", "ERASURES_PURPOSE", "RootRotation", "rotate_root"]

# What the key store derives each store's secrets for (KeyStore.derived_secrets).
ACCESS_LOG_PURPOSE: Final = b"addvalue access log"
ERASURES_PURPOSE: Final = b"addvalue erasures"


class RootRotation(msgspec.Struct, frozen=True, kw_only=True):
    """What ``rotate_root`` did. ``anchor_seq``: the access-log record that starts the chain under the new root."""

    roots: int
    lookups_rederived: int
    erasures_rederived: int
    records_verified: int
    anchor_seq: int
    checkpoint: str | None
    seconds: float


def rotate_root(keys: KeyStore, erasures: ErasureRegister, log: AccessLog, clock: Clock) -> RootRotation:
    """Raises ``ChainNotVerified`` (nothing changed) when the access log does not verify."""
    started = time.monotonic()
    log.rechain(keys.derived_secrets(ACCESS_LOG_PURPOSE), clock.now())  # verifies it all first
    erasures.use_roots(keys.derived_secrets(ERASURES_PURPOSE))
    verified = log.verify()
    rederived = keys.rotate_root()
    stepped = erasures.use_roots(keys.derived_secrets(ERASURES_PURPOSE))
    (anchor,) = log.rechain(keys.derived_secrets(ACCESS_LOG_PURPOSE), clock.now())
    after = log.verify()
    return RootRotation(
        roots=len(keys.derived_secrets(ACCESS_LOG_PURPOSE)),
        lookups_rederived=rederived,
        erasures_rederived=stepped,
        records_verified=verified.records,
        anchor_seq=anchor.seq,
        checkpoint=after.checkpoint,
        seconds=round(time.monotonic() - started, 3),
    )
