"""The ``User`` aggregate: a person as the pipeline knows them, by subject id only."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.errors import SubjectErased

__all__ = ["User"]


class User(Aggregate):
    """Stream id is the random subject id; the app's user id is never stored here."""

    class FirstSeen(Aggregate.Created):
        subject_id: UUID
        first_seen_at: datetime

    class SignedUp(Aggregate.Event):
        subject_id: UUID
        method: str
        referral_code: str | None
        signed_up_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.signed_up_at = self.signed_up_at
            aggregate.signup_method = self.method

    class ProfileFieldsChanged(Aggregate.Event):
        """Names of the changed fields only: the values never reach us."""

        subject_id: UUID
        fields: tuple[str, ...]
        changed_at: datetime

    class Erased(Aggregate.Event):
        """Written before the key is destroyed; holds no personal data, so stays readable."""

        is_personal: ClassVar[bool] = False
        subject_id: UUID
        requested_by: str

        def apply(self, aggregate: Any) -> None:
            aggregate.erased = True

    @classmethod
    def first_seen(cls, subject_id: UUID, at: datetime) -> User:
        return cls._create(cls.FirstSeen, id=subject_id, subject_id=subject_id, first_seen_at=at)

    def __init__(self, subject_id: UUID, first_seen_at: datetime) -> None:
        self.subject_id = subject_id
        self.first_seen_at = first_seen_at
        self.signed_up_at: datetime | None = None
        self.signup_method: str | None = None
        self.erased = False

    def sign_up(self, method: str, referral_code: str | None, at: datetime) -> None:
        """A repeated signup (app reinstall) keeps the first one: it is the cohort date."""
        if self.signed_up_at is None:
            self.trigger_event(
                self.SignedUp,
                subject_id=self.subject_id,
                method=method,
                referral_code=referral_code,
                signed_up_at=at,
            )

    def change_profile_fields(self, fields: tuple[str, ...], at: datetime) -> None:
        _check_not_erased(self)
        self.trigger_event(self.ProfileFieldsChanged, subject_id=self.subject_id, fields=fields, changed_at=at)

    def erase(self, requested_by: str) -> None:
        _check_not_erased(self)
        self.trigger_event(self.Erased, subject_id=self.subject_id, requested_by=requested_by)


def _check_not_erased(user: User) -> None:
    if user.erased:
        raise SubjectErased(f"subject {user.subject_id} was erased; nothing more is recorded for it")
