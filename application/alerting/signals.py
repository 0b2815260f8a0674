"""The signals, computed from what the service records: ingest outcomes, projection positions, job runs.

Each one's exact definition is in docs/operations.md ("Alerting"). The data quality scores
come through the ``QualityScores`` port (``QualityBook.latest``); before the data-quality jobs
have run, or with ``NoQualityScores``, there are none, and a condition on them never holds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from application.alerting.ports import IngestOutcomes, QualityScores
from application.alerting.rules import QUALITY_DIMENSIONS
from application.read_models.projections import PagedProjection
from application.reporting.anomalies import JOB as ANOMALIES_JOB
from application.reporting.anomalies import anomaly_points
from application.reporting.jobs import Jobs
from application.reporting.ports import RecordedReports
from application.store import AnalyticsStore
from domain.platform import JobRun

__all__ = ["NoQualityScores", "ServiceSignals", "SignalValues", "outcomes_of"]

SignalValues = dict[str, float | None]
# The outcomes an event submitted to ingestion ends in; "failed": its request was answered 5xx.
OUTCOMES = ("accepted", "duplicate", "rejected", "not_collected", "failed")


class NoQualityScores:
    """No data quality record exists yet: every score is "no data"."""

    def latest(self) -> dict[str, float]:
        return {}


def outcomes_of(report: Any) -> dict[str, int]:
    """The outcome counts of one request's IngestReport (rejected_missing: a required field absent or null)."""
    missing = sum(
        any(e.message == "is required" or e.message.endswith("got null") for e in r.errors) for r in report.rejected
    )
    return {
        "accepted": report.accepted,
        "duplicate": report.duplicates,
        "rejected": len(report.rejected),
        "rejected_missing": missing,
        "not_collected": report.not_collected,
    }


class ServiceSignals:
    """The ``SignalSource`` of the service."""

    def __init__(
        self,
        store: AnalyticsStore,
        outcomes: IngestOutcomes,
        projections: Sequence[PagedProjection[Any]],
        jobs: Jobs,
        *,
        quality: QualityScores | None = None,
        reports: RecordedReports | None = None,
        more_lags: Callable[[], Mapping[str, float]] | None = None,
    ) -> None:
        # Other parts of the pipeline that can fall behind (the app databases' outboxes): name -> seconds.
        self._more_lags = more_lags or dict
        self._store = store
        self._outcomes = outcomes
        self._projections = list(projections)
        self._jobs = jobs
        self._quality = quality or NoQualityScores()
        self._reports = reports
        self._runs = _LatestRuns(store)
        self._readers: dict[str, Callable[[timedelta, datetime], SignalValues]] = {}

    def read(self, names: Sequence[str], window: timedelta, now: datetime) -> SignalValues:
        wanted = set(names)
        values: SignalValues = {}
        if wanted & {"error_rate", "duplicate_rate", "null_rate", "rejected_events", "submitted_events"}:
            values |= self.ingest(window, now)
        if wanted & {"processing_lag", "processing_lag_events"}:
            lags = self.projection_lags(now)
            more = self._more_lags().values()
            values["processing_lag"] = max([*(s for s, _ in lags.values()), *more], default=0.0)
            values["processing_lag_events"] = float(max((n for _, n in lags.values()), default=0))
        if wanted & {"daily_job_failed", "job_failed"}:
            failed = self.failed_jobs()
            daily = {job.name for job in self._jobs.all() if job.cadence == "day"}
            values["daily_job_failed"] = float(bool(failed & daily))
            values["job_failed"] = float(bool(failed))
        if any(name.startswith("quality_") for name in wanted):
            values |= self.quality()
        if "metric_anomaly" in wanted:
            values["metric_anomaly"] = self.metric_anomalies(now)
        return {name: values.get(name) for name in names}

    def ingest(self, window: timedelta, now: datetime) -> SignalValues:
        until = int(now.timestamp())
        return _ingest_values(self._outcomes.totals(until - max(int(window.total_seconds()), 1) + 1, until))

    def ingest_per(self, first: datetime, step: timedelta, count: int) -> list[SignalValues]:
        """``ingest`` of ``count`` consecutive windows of ``step`` from ``first`` on, oldest first, in one query:
        the k-th is what ``ingest(step, first + (k + 1) * step - 1 s)`` answers."""
        since, seconds = int(first.timestamp()), max(int(step.total_seconds()), 1)
        found = self._outcomes.totals_per(since, since + count * seconds - 1, seconds)
        return [_ingest_values(found.get(since + k * seconds, {})) for k in range(count)]

    def projection_lags(self, now: datetime) -> dict[str, tuple[float, int]]:
        """Per projection: (seconds since the oldest event it has not applied was stored, events behind)."""
        lags = {}
        for projection in self._projections:
            position, head = projection.position(), projection.target()
            if position >= head:
                lags[projection.name] = (0.0, 0)
                continue
            stored = self._stored_at(position + 1)
            seconds = max((now - stored).total_seconds(), 0.0) if stored is not None else 0.0
            lags[projection.name] = (seconds, head - position)
        return lags

    def _stored_at(self, position: int) -> datetime | None:
        page = self._store.recorder.select_notifications(position, 1)
        if not page:
            return None
        stamp = getattr(self._store.mapper.to_domain_event(page[0]), "timestamp", None)
        return stamp if isinstance(stamp, datetime) else None

    def failed_jobs(self) -> set[str]:
        """The jobs whose latest recorded run failed."""
        return {job for job, status in self._runs.latest().items() if status == "failed"}

    def quality(self) -> SignalValues:
        scores = self._quality.latest()
        values: SignalValues = {f"quality_{d}": scores.get(d) for d in QUALITY_DIMENSIONS}
        present = [s for s in scores.values() if s is not None]
        values["quality_score"] = min(present) if present else None
        return values

    def metric_anomalies(self, now: datetime) -> float | None:
        """The anomalies the metric-anomalies job flagged on the latest day it checked: yesterday, or the day
        before while yesterday's run (02:30 UTC) is pending; None when neither was checked."""
        if self._reports is None:
            return None
        yesterday = now.date() - timedelta(days=1)
        for day in (yesterday, yesterday - timedelta(days=1)):
            if self._reports.get(ANOMALIES_JOB, day.isoformat()) is not None:
                return float(len(anomaly_points(self._reports, day, day)))
        return None


class _LatestRuns:
    """Each job's latest run status, read incrementally from the log (a run is a ``JobRun.Ran`` event).

    Read by the alert loop's thread and the pipeline page's threads at once: one reads the log at a time,
    and each caller gets its own copy, never the dict another one is updating.
    """

    def __init__(self, store: AnalyticsStore) -> None:
        self._store = store
        self._position = 0
        self._latest: dict[str, str] = {}
        self._jobs_of: dict[UUID, str] = {}
        self._topic = get_topic(JobRun.Ran)
        self._reading = threading.Lock()

    def latest(self) -> Mapping[str, str]:
        with self._reading:
            for notification in self._store.iter_log(self._position + 1, topics=[self._topic]):
                ran = self._store.mapper.to_domain_event(notification)
                job = self._jobs_of.get(ran.originator_id)
                if job is None:
                    run: JobRun = self._store.repository.get(ran.originator_id, version=1)
                    job = self._jobs_of[ran.originator_id] = run.job
                self._latest[job] = ran.status  # type: ignore[attr-defined]
                self._position = notification.id  # after the run is counted: a failed read is read again
            return dict(self._latest)


def epoch_second(now: datetime | None = None) -> int:
    return int(now.timestamp()) if now is not None else int(time.time())


def _ingest_values(counts: Mapping[str, int]) -> SignalValues:
    """The ingest signals of one window's outcome counts."""
    submitted = sum(counts.get(o, 0) for o in OUTCOMES)
    bad = counts.get("rejected", 0) + counts.get("failed", 0)

    def rate(n: int) -> float | None:
        return n / submitted if submitted else None

    return {
        "error_rate": rate(bad),
        "duplicate_rate": rate(counts.get("duplicate", 0)),
        "null_rate": rate(counts.get("rejected_missing", 0)),
        "rejected_events": float(bad),
        "submitted_events": float(submitted),
    }
