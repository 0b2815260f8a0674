"""Errors shared by every capability; each answers to one HTTP status (entrypoints/http/errors.py)."""

from __future__ import annotations

__all__ = ["BadQuery", "NotFound", "StorageError"]


class StorageError(Exception):
    """A database or file the service depends on failed; the message says which and why."""


class BadQuery(Exception):
    """A parameter is malformed or out of bounds; the message says which and what is allowed."""


class NotFound(Exception):
    """Nothing is held for what was asked (an unknown user, a day not computed yet)."""
