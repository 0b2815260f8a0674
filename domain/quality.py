"""Data quality results: per period, a score 0-100 per dimension and the figures of the checks that failed.

A ``QualityResult`` names no one (counts, rates, event names, job names), so it is stored readable
under the nil subject like the platform's other records (domain.platform): an erasure does not touch
it and no rebuild replays it away. A recomputation of the same period replaces it (the checks read
the history as it stands then). docs/operations.md defines every check.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Final, Literal
from uuid import UUID, uuid5

import msgspec
from eventsourcing.domain import Aggregate

from domain.platform import PLATFORM_SUBJECT

__all__ = ["DIMENSIONS", "CheckResult", "Dimension", "QualityResult", "score_of"]

Dimension = Literal["completeness", "accuracy", "timeliness", "consistency"]
DIMENSIONS: Final[tuple[Dimension, ...]] = ("completeness", "accuracy", "timeliness", "consistency")
_NAMESPACE: Final = UUID("7e1b2c3d-4f5a-4b6c-8d7e-9f0a1b2c3d4e")


class CheckResult(msgspec.Struct, frozen=True, kw_only=True):
    """One check: the share of what it examined that passed (1.0 when nothing applied), and its figures."""

    dimension: Dimension
    check: str
    passed: float
    figures: dict[str, float] = msgspec.field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.passed < 1.0


def score_of(results: list[CheckResult], dimension: Dimension) -> float:
    """100 times the mean pass share of the dimension's checks, to one decimal (100 with no check)."""
    shares = [r.passed for r in results if r.dimension == dimension]
    return round(100 * sum(shares) / len(shares), 1) if shares else 100.0


class QualityResult(Aggregate):
    """The data quality of one hour or one day, as the ``data-quality`` jobs found it."""

    class Checked(Aggregate.Created):
        is_personal: ClassVar[bool] = False
        subject_id: UUID
        period: str
        checked_at: datetime
        scores: dict[str, float]
        checks: list[dict[str, Any]]

    class Rechecked(Aggregate.Event):
        is_personal: ClassVar[bool] = False
        subject_id: UUID
        checked_at: datetime
        scores: dict[str, float]
        checks: list[dict[str, Any]]

        def apply(self, aggregate: Any) -> None:
            aggregate.checked_at = self.checked_at
            aggregate.scores = dict(self.scores)
            aggregate.checks = list(self.checks)

    @classmethod
    def create_id(cls, period: str) -> UUID:
        return uuid5(_NAMESPACE, period)

    @classmethod
    def check(cls, period: str, checked_at: datetime, results: list[CheckResult]) -> QualityResult:
        return cls._create(
            cls.Checked,
            id=cls.create_id(period),
            subject_id=PLATFORM_SUBJECT,
            period=period,
            checked_at=checked_at,
            scores=_scores(results),
            checks=_encoded(results),
        )

    def __init__(
        self, period: str, checked_at: datetime, scores: dict[str, float], checks: list[dict[str, Any]]
    ) -> None:
        self.period = period
        self.checked_at = checked_at
        self.scores = dict(scores)
        self.checks = list(checks)

    def recheck(self, checked_at: datetime, results: list[CheckResult]) -> None:
        self.trigger_event(
            self.Rechecked,
            subject_id=PLATFORM_SUBJECT,
            checked_at=checked_at,
            scores=_scores(results),
            checks=_encoded(results),
        )

    def results(self) -> list[CheckResult]:
        return [msgspec.convert(c, CheckResult) for c in self.checks]


def _scores(results: list[CheckResult]) -> dict[str, float]:
    return {d: score_of(results, d) for d in DIMENSIONS}


def _encoded(results: list[CheckResult]) -> list[dict[str, Any]]:
    return [msgspec.to_builtins(r) for r in results]
