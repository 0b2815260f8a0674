"""Errors of the domain: each says what rule was broken, in words a client can act on."""

from __future__ import annotations

import msgspec

__all__ = [
    "ConsentRuleBroken",
    "DomainError",
    "EventRejected",
    "FieldError",
    "SubjectErased",
]


class FieldError(msgspec.Struct, frozen=True):
    """One broken rule: where (``properties.round``) and what (``must be ...``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class DomainError(Exception):
    """Base of every error that a rule of the domain raises."""


class EventRejected(DomainError):
    """An event broke the catalog; ``errors`` names each field and rule."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


class SubjectErased(DomainError):
    """The person behind this stream was erased: their data key no longer exists."""


class ConsentRuleBroken(DomainError):
    """A consent change that the rules do not allow (e.g. an unknown purpose)."""
