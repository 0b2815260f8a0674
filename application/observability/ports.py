"""What the service tells its operators about itself: the pipeline's measurements, behind one port.

Use cases report what happened (an ingest group committed, a job ran, a projection's lag) and never
name a metrics library; ``adapters.metrics.prometheus`` turns these calls into Prometheus families,
and ``NoMetrics`` drops them (the CLI's one-shot commands, unit tests).

Ingest outcomes have readers of their own (``IngestOutcomesSeen``): the group commit counts each
request's outcomes once, as one :class:`IngestOutcomeCounts`, and hands it to every reader at once
(``OutcomesSeenBy``): the ``/metrics`` counters and the alert signals' per-second tally.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec

__all__ = ["IngestOutcomeCounts", "IngestOutcomesSeen", "NoMetrics", "OutcomesSeenBy", "PipelineMetrics"]


class IngestOutcomeCounts(msgspec.Struct, frozen=True, kw_only=True):
    """One request's events by outcome; ``failed``: its write failed (answered 5xx).

    ``missing_fields``: per rejected event with a required field absent or null, (event name, first
    such field), both from the catalog (``domain.validation.missing_field``).
    """

    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    not_collected: int = 0
    failed: int = 0
    missing_fields: tuple[tuple[str, str], ...] = ()

    def by_outcome(self) -> dict[str, int]:
        """The non-zero counts by outcome name; ``rejected_missing``: the events of ``missing_fields``."""
        counts = {
            "accepted": self.accepted,
            "duplicate": self.duplicate,
            "rejected": self.rejected,
            "not_collected": self.not_collected,
            "failed": self.failed,
            "rejected_missing": len(self.missing_fields),
        }
        return {outcome: n for outcome, n in counts.items() if n}


class IngestOutcomesSeen(Protocol):
    """A reader of ingest outcomes: told each request's counts once its answer is known."""

    def ingest_outcomes(self, counts: IngestOutcomeCounts) -> None:
        """One request's events by outcome (written, refused before writing, or failed to write)."""


class OutcomesSeenBy(IngestOutcomesSeen):
    """The same counts, to each reader in turn (``/metrics`` and the alert signals)."""

    def __init__(self, *readers: IngestOutcomesSeen) -> None:
        self._readers = readers

    def ingest_outcomes(self, counts: IngestOutcomeCounts) -> None:
        for reader in self._readers:
            reader.ingest_outcomes(counts)


class PipelineMetrics(IngestOutcomesSeen, Protocol):
    """The pipeline's measurements; every method is cheap and never raises into the caller's work."""

    def ingest_queue_depth(self, events: int) -> None:
        """Valid events of this process waiting for the group commit."""

    def group_committed(self, seconds: float, event_lags: Sequence[float]) -> None:
        """A group's transaction took ``seconds``; each stored event's corrected time to its commit."""

    def request_served(self, route: str, status: int, seconds: float, *, ingest: bool) -> None:
        """An HTTP request answered: by route template and status (ingest routes also by route alone)."""

    def projection_lag(self, projection: str, *, events: int, seconds: float) -> None:
        """Events of the log the projection has not applied, and for how long it has not been caught up."""

    def job_ran(self, job: str, *, succeeded: bool, seconds: float, finished_at: float) -> None:
        """A batch job's run: its outcome and its duration."""

    def job_periods_owed(self, job: str, periods: int) -> None:
        """How many periods the job owes now (set once per scheduler pass, not per run)."""

    def quality_score(self, dimension: str, score: float) -> None:
        """The latest data quality score (0-100) of one dimension."""

    def alert_firing(self, alert: str, severity: str, *, firing: bool) -> None:
        """Whether an alert rule fires now (set by the alerting capability)."""


class NoMetrics(PipelineMetrics):
    """Measurements dropped: for commands that exit at once and for tests that do not look at them."""

    def ingest_outcomes(self, counts: IngestOutcomeCounts) -> None:
        pass

    def ingest_queue_depth(self, events: int) -> None:
        pass

    def group_committed(self, seconds: float, event_lags: Sequence[float]) -> None:
        pass

    def request_served(self, route: str, status: int, seconds: float, *, ingest: bool) -> None:
        pass

    def projection_lag(self, projection: str, *, events: int, seconds: float) -> None:
        pass

    def job_ran(self, job: str, *, succeeded: bool, seconds: float, finished_at: float) -> None:
        pass

    def job_periods_owed(self, job: str, periods: int) -> None:
        pass

    def quality_score(self, dimension: str, score: float) -> None:
        pass

    def alert_firing(self, alert: str, severity: str, *, firing: bool) -> None:
        pass
