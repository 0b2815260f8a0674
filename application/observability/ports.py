"""What the service tells its operators about itself: the pipeline's measurements, behind one port.

Use cases report what happened (an ingest group committed, a job ran, a projection's lag) and never
name a metrics library; ``adapters.metrics.prometheus`` turns these calls into Prometheus families,
and ``NoMetrics`` drops them (the CLI's one-shot commands, unit tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

__all__ = ["NoMetrics", "PipelineMetrics"]


class PipelineMetrics(Protocol):
    """The pipeline's measurements; every method is cheap and never raises into the caller's work."""

    def ingest_outcomes(self, *, accepted: int, duplicates: int, rejected: int, not_collected: int) -> None:
        """One request's events by outcome, once its answer is known (written, or refused before writing)."""

    def ingest_queue_depth(self, events: int) -> None:
        """Valid events of this process waiting for the group commit."""

    def group_committed(self, seconds: float, event_lags: Sequence[float]) -> None:
        """A group's transaction took ``seconds``; each stored event's corrected time to its commit."""

    def request_served(self, route: str, status: int, seconds: float, *, ingest: bool) -> None:
        """An HTTP request answered: by route template and status (ingest routes also by route alone)."""

    def projection_lag(self, projection: str, *, events: int, seconds: float) -> None:
        """Events of the log the projection has not applied, and for how long it has not been caught up."""

    def job_ran(self, job: str, *, succeeded: bool, seconds: float, finished_at: float, periods_owed: int) -> None:
        """A batch job's run: its outcome, its duration, and how many periods it still owes."""

    def quality_score(self, dimension: str, score: float) -> None:
        """The latest data quality score (0-100) of one dimension."""

    def alert_firing(self, alert: str, severity: str, *, firing: bool) -> None:
        """Whether an alert rule fires now (set by the alerting capability)."""


class NoMetrics(PipelineMetrics):
    """Measurements dropped: for commands that exit at once and for tests that do not look at them."""

    def ingest_outcomes(self, *, accepted: int, duplicates: int, rejected: int, not_collected: int) -> None:
        pass

    def ingest_queue_depth(self, events: int) -> None:
        pass

    def group_committed(self, seconds: float, event_lags: Sequence[float]) -> None:
        pass

    def request_served(self, route: str, status: int, seconds: float, *, ingest: bool) -> None:
        pass

    def projection_lag(self, projection: str, *, events: int, seconds: float) -> None:
        pass

    def job_ran(self, job: str, *, succeeded: bool, seconds: float, finished_at: float, periods_owed: int) -> None:
        pass

    def quality_score(self, dimension: str, score: float) -> None:
        pass

    def alert_firing(self, alert: str, severity: str, *, firing: bool) -> None:
        pass
