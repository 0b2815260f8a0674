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
from typing import Final
from uuid import UUID

from application.ports import SubjectKeys

__all__ = ["UNKEYED", "person_hash"]

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
