"""Ports of data quality: how other capabilities (alerting, the API) read the recorded results."""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol

import msgspec

from domain.quality import CheckResult

__all__ = ["QualityReader", "QualityReport"]


class QualityReport(msgspec.Struct, frozen=True, kw_only=True):
    """One period's recorded quality: a score 0-100 per dimension, and every check with its figures."""

    period: str
    checked_at: str
    scores: dict[str, float]
    checks: list[CheckResult]

    @property
    def failing(self) -> list[CheckResult]:
        return [c for c in self.checks if c.failed]

    def shown(self) -> dict[str, Any]:
        """As the API and the CLI show it: the record, and its failing checks apart."""
        shown: dict[str, Any] = msgspec.to_builtins(self)
        shown["failing"] = msgspec.to_builtins(self.failing)
        return shown


class QualityReader(Protocol):
    """The recorded data quality (application.quality.book.QualityBook)."""

    def quality_on(self, day: date) -> QualityReport | None:
        """The day's result, once the daily run has checked it; None before."""

    def quality_series(self, first: date, last: date) -> list[QualityReport]:
        """The checked days in [first, last], oldest first."""

    def latest_hour(self) -> QualityReport | None:
        """The most recent hourly result, if any hour has been checked."""
