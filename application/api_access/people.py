"""Whose requests, and whose data, the access log names: keyed per person, so erasure makes it unlinkable.

An app user's access-log principal, and the person an admin's or auditor's
read was about, are stored as an HMAC of the app user id under a key derived
from that person's own data key. Erasure destroys the data key, so nobody can
compute the hash again and link those records to the person, while every
record's bytes, and so the chain, stay as they were.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final
from uuid import UUID

from application.errors import StorageError
from application.ports import SubjectKeys

__all__ = ["PEOPLE_REMEMBERED", "PERSON_HASH_SECONDS", "UNAVAILABLE", "UNKEYED", "PersonHashes", "person_hash"]

UNAVAILABLE: Final = "person:unavailable"  # the key store could not be read: the request goes on, named so

UNKEYED: Final = "unkeyed"  # a person without a data key: never sent data, or erased
_LABEL: Final = b"addvalue access-log person\0"


def person_hash(keys: SubjectKeys, app_user_id: UUID) -> str:
    """``person:<hash>`` under the person's own key, or ``person:unkeyed`` when they have none (no new key)."""
    subject = keys.subject_for(app_user_id, create=False)
    key = None if subject is None else keys.data_key(subject)
    if key is None:
        return f"person:{UNKEYED}"
    digest = hmac.new(key, _LABEL + app_user_id.bytes, hashlib.sha256).hexdigest()[:32]
    return f"person:{digest}"


# How long a person's hash is remembered. With 10,000 people each serve worker saw a person about once a minute
# in bench/api.py, so a minute's memory read the key store (two round trips, in a thread) for most requests.
PERSON_HASH_SECONDS: Final = 600.0
PEOPLE_REMEMBERED: Final = 100_000


class PersonHashes:
    """``person_hash`` for the requests of the last ``ttl`` seconds, remembered: one key-store read per person and
    ``ttl`` instead of per request, and answers go on while the key store is away (then ``UNAVAILABLE``).

    A hash remembered past an erasure names at most ``ttl`` seconds more of requests by the same hash, which the
    destroyed key still makes unlinkable to the person (their reads are answered 404 meanwhile).
    """

    def __init__(
        self,
        keys: SubjectKeys,
        *,
        ttl: float = PERSON_HASH_SECONDS,
        max_people: int = PEOPLE_REMEMBERED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keys = keys
        self._ttl = ttl
        self._max = max_people
        self._clock = clock
        self._known: OrderedDict[UUID, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def known(self, app_user_id: UUID) -> str | None:
        """The hash remembered for ``app_user_id`` if it is still fresh; ``None`` when it must be computed (which
        reads the key store: call the instance, off the event loop)."""
        with self._lock:
            found = self._known.get(app_user_id)
        if found is not None and self._clock() - found[0] < self._ttl:
            return found[1]
        return None

    def __call__(self, app_user_id: UUID) -> str:
        known = self.known(app_user_id)
        if known is not None:
            return known
        now = self._clock()
        try:
            hashed = person_hash(self._keys, app_user_id)
        except StorageError:
            return UNAVAILABLE
        with self._lock:
            self._known[app_user_id] = (now, hashed)
            self._known.move_to_end(app_user_id)
            if len(self._known) > self._max:
                self._known.popitem(last=False)
        return hashed
