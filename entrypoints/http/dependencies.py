"""What routes receive by name (Litestar dependencies), and how they are annotated.

Long-lived objects are passed as they are: ``SkipValidation`` keeps Litestar from checking or copying them.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar.di import Provide
from litestar.params import SkipValidation

from application.principals import Principal
from application.reporting.queries import Analytics
from entrypoints.bootstrap import Container

__all__ = ["Person", "Reads", "Services", "Who", "provided"]

Services = SkipValidation[Container]
"""``container``: the service's use cases and stores."""
Reads = SkipValidation[Analytics]
"""``analytics``: the metric queries."""
Who = SkipValidation[Principal]
"""``principal``: who the /api gate let in."""
Person = SkipValidation[UUID]
"""``person``: the person an /api request is about, checked by the gate."""


def provided(value: Any) -> Provide:
    """A dependency that is always ``value``: one of the app's long-lived objects."""
    return Provide(lambda: value, use_cache=True, sync_to_thread=False)
