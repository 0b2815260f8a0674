"""The composed service, as ``bootstrap`` hands it to the HTTP app, the CLI and the scheduler."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from adapters.eventstore.persistence import ping
from adapters.metrics.prometheus import PrometheusMetrics
from application.alerting.evaluation import Alerting
from application.alerting.signals import ServiceSignals
from application.api_access.ports import AccessLog, ApiRateCounter, Tokens
from application.api_access.sign_in import SignIn
from application.ingest.group_commit import GroupCommit
from application.ingest.ingestion import Ingestion
from application.ingest.ports import GeoLookup
from application.ingest.quarantine_book import QuarantineBook
from application.ports import Clock, KeyStore
from application.privacy.consent import ConsentBook
from application.privacy.erasure import ActiveSubjects, Erasure
from application.privacy.export import Export
from application.privacy.history import History
from application.privacy.ports import ErasureRegister
from application.quality.book import QualityBook
from application.read_models.live_activity import LiveActivityProjection
from application.read_models.ports import DailyCountsView, Leases, LiveActivityView, UserDaysView, Wakeups
from application.read_models.projections import DailyCountsProjection, PagedProjection
from application.read_models.rebuilds import Rebuilds
from application.read_models.user_days import UserDaysProjection
from application.reporting.jobs import Jobs
from application.reporting.queries import Analytics
from application.reporting.scheduled_reports import ReportDesk
from application.retention.archive import Archiving
from application.sources.intake import SegmentIntake, WriteKeys
from application.store import AnalyticsStore
from entrypoints.outbox_loop import OutboxLoop
from entrypoints.settings import Settings

__all__ = ["Container"]


@dataclass(frozen=True, kw_only=True)
class Container:
    """Every use case and the ports they were built on; closing it closes what ``bootstrap`` opened.

    Use it as a context manager (``with bootstrap(settings) as container:``),
    or call ``close`` when its owner stops.
    """

    settings: Settings
    store: AnalyticsStore
    keys: KeyStore
    tokens: Tokens
    ingestion: Ingestion
    group_commit: GroupCommit
    quarantine: QuarantineBook
    erasure: Erasure
    consent: ConsentBook
    export: Export
    erasures: ErasureRegister
    subjects: ActiveSubjects
    history: History
    daily_counts_view: DailyCountsView
    daily_counts: DailyCountsProjection
    live_activity_view: LiveActivityView
    live_activity: LiveActivityProjection
    user_days_view: UserDaysView
    user_days: UserDaysProjection
    rebuilds: Rebuilds
    jobs: Jobs
    archiving: Archiving
    wakeups: Wakeups | None
    leases: Leases
    clock: Clock
    geo: GeoLookup
    write_keys: WriteKeys
    segment: SegmentIntake
    analytics: Analytics
    access_log: AccessLog
    api_rate: ApiRateCounter
    metrics: PrometheusMetrics
    quality: QualityBook
    alerting: Alerting
    signals: ServiceSignals  # what the alerts read (ingest outcomes, lags, jobs, quality), for the pipeline page
    sign_in: SignIn
    report_desk: ReportDesk
    # The app databases' outboxes (ADDVALUE_OUTBOX_URLS), followed with the jobs; None when there are none.
    outbox_loop: OutboxLoop | None = None
    # What bootstrap opened (connections, pools, files), closed in reverse order by close().
    resources: ExitStack = field(default_factory=ExitStack, repr=False, compare=False)

    def database_ready(self) -> bool:
        """True when the database answers a query on a fresh connection within 2 s (no retries)."""
        return ping(self.settings.database)

    @property
    def projections(self) -> dict[str, PagedProjection[Any]]:
        """Every read model, by name: what the scheduler runs and the CLI rebuilds."""
        return {p.name: p for p in (self.daily_counts, self.live_activity, self.user_days)}

    def close(self) -> None:
        self.resources.close()

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
