"""An erasure asked to happen now either happens or says so: never a receipt that reads like success."""

from __future__ import annotations

import uuid

import pytest

from application.privacy.erasure import Erasure, ErasureNotDone
from tests.fakes import FakeErasureRegister, FakeKeys, FixedClock, in_memory_store


class KeysThatKeepTheirKeys(FakeKeys):
    """A key store whose delete silently does nothing (a failed disk, a read-only replica)."""

    def erase(self, subject_id: uuid.UUID) -> bool:
        return False


def test_an_immediate_erasure_whose_key_survives_is_an_error_not_a_receipt() -> None:
    keys = KeysThatKeepTheirKeys()
    person = uuid.uuid4()
    subject = keys.subject_for(person, create=True)
    erasure = Erasure(in_memory_store(keys), keys, FakeErasureRegister(), FixedClock())
    with pytest.raises(ErasureNotDone, match="still exists"):
        erasure.erase(person, requested_by="operator")
    assert keys.data_key(subject) is not None  # what the error is about: nothing was shredded
