"""What a caller of ``bootstrap`` may give instead of what it would build from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.metrics.prometheus import PrometheusMetrics
from application.api_access.ports import AccessLog, ApiRateCounter, SessionStore, Tokens
from application.ingest.ports import GeoLookup
from application.ports import Clock, KeyStore
from application.privacy.ports import ErasureRegister
from application.read_models.ports import DailyCountsView, Leases, LiveActivityView, UserDaysView, Wakeups
from application.reporting.ports import IndexSummaries, PersonReads
from application.retention.ports import ColdStore, MetricsRetention
from application.store import AnalyticsStore

__all__ = ["Overrides"]


@dataclass(frozen=True, kw_only=True)
class Overrides:
    """Dependencies to use instead of building them; each one left None is built from the settings.

    What is given here stays the caller's: closing the container does not close
    it. A ``store`` of another kind than ours needs its ``cold_store`` too (the
    archive is attached to our recorders), and its ``metrics_retention``.
    """

    clock: Clock | None = None
    store: AnalyticsStore | None = None
    keys: KeyStore | None = None
    erasures: ErasureRegister | None = None
    tokens: Tokens | None = None
    geo: GeoLookup | None = None
    daily_counts_view: DailyCountsView | None = None
    live_activity_view: LiveActivityView | None = None
    user_days_view: UserDaysView | None = None
    person_reads: PersonReads | None = None
    index_summaries: IndexSummaries | None = None
    leases: Leases | None = None
    wakeups: Wakeups | None = None
    access_log: AccessLog | None = None
    api_rate: ApiRateCounter | None = None
    sessions: SessionStore | None = None
    cold_store: ColdStore | None = None
    metrics_retention: MetricsRetention | None = None
    metrics: PrometheusMetrics | None = None
