"""The adapters behind every port, built from the settings unless ``Overrides`` gives them (see bootstrap)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import ExitStack
from datetime import timedelta
from typing import Protocol, TypeVar

from adapters.alerting.senders import HttpSender, smtp_sender
from adapters.alerting.tables import AlertTables, build_alert_tables
from adapters.api_access.access_log import PostgresAccessLog, SqliteAccessLog, build_access_log
from adapters.api_access.quota import build_api_rate_counter
from adapters.api_access.sessions import build_session_store
from adapters.api_access.tokens import JwtTokens
from adapters.clock import SystemClock
from adapters.connections import SharedPool
from adapters.database_url import Database
from adapters.encryption.key_check import check_key_store_exists, check_keys_cover_log
from adapters.encryption.keystore import PostgresKeyStore
from adapters.encryption.mapper import EncryptingMapper
from adapters.eventstore.persistence import build_key_store, event_store_env
from adapters.eventstore.recorders import PostgresIngestRecorder, SqliteIngestRecorder
from adapters.eventstore.wakeups import PostgresWakeups, SqliteWakeups, events_channel
from adapters.geo import build_geo_lookup
from adapters.metrics.prometheus import PrometheusMetrics
from adapters.privacy.erasure_register import build_erasure_register
from adapters.read_models.leases import build_leases
from adapters.read_models.live_activity import build_live_activity
from adapters.read_models.rebuild_journal import build_rebuild_journal
from adapters.read_models.tracked import PostgresTrackedView, SqliteTrackedView
from adapters.read_models.user_days import PostgresUserDays, SqliteUserDays, build_user_days
from adapters.read_models.views import ShadowView, build_daily_counts
from adapters.reports.artifacts import SqlReportArtifacts
from adapters.reports.mail import KIND as REPORT_MAIL
from adapters.reports.mail import OutboxReportMail, ReportMailer
from adapters.reports.render import WeasyRenderer
from adapters.retention.archive import ParquetArchive, ReadModelRetention, default_archive_dir
from adapters.retention.backup import BackupFolder, default_backup_dir
from application.alerting.ports import Sender
from application.api_access.ports import AccessLog, ApiRateCounter, SessionStore, Tokens
from application.api_access.quota import ApiQuota
from application.ingest.ports import GeoLookup
from application.key_rotation import ACCESS_LOG_PURPOSE, ERASURES_PURPOSE
from application.ports import Clock, KeyStore
from application.privacy.ports import ErasureRegister
from application.read_models.ports import (
    DailyCountsView,
    Leases,
    LiveActivityView,
    RebuildJournal,
    UserDaysView,
    Wakeups,
)
from application.read_models.projections import Upkeep
from application.reporting.ports import IndexSummaries, PersonReads, ReportArtifacts, ReportMail, ReportRenderer
from application.retention.ports import Backups, ColdStore, MetricsRetention
from application.store import AnalyticsStore
from entrypoints.overrides import Overrides
from entrypoints.settings import Settings

__all__ = ["API_WINDOW_SECONDS", "Infrastructure"]

API_WINDOW_SECONDS = 3600  # the API quota is per hour (ADDVALUE_API_REQUESTS_PER_HOUR)

T = TypeVar("T")
TrackingView = SqliteTrackedView | PostgresTrackedView


class _Closable(Protocol):
    def close(self) -> None: ...


Resource = TypeVar("Resource", bound=_Closable)
V = TypeVar("V", bound=TrackingView)


def _access_log(db: Database, secrets: list[bytes]) -> SqliteAccessLog | PostgresAccessLog:
    return build_access_log(db, secrets[-1], earlier=secrets[:-1])


def _given_or(given: T | None, build: Callable[[], T]) -> T:
    return given if given is not None else build()


class Infrastructure:
    """The adapters behind every port, each built once when first needed, unless the overrides give it."""

    def __init__(self, settings: Settings, overrides: Overrides, resources: ExitStack) -> None:
        self.settings = settings
        self._given = overrides
        self._resources = resources
        self._views: dict[int, TrackingView] = {}  # the views built here (not given), by id

    @property
    def _db(self) -> Database:
        return self.settings.database

    def _owned(self, resource: Resource) -> Resource:
        """``resource``, closed with the container."""
        self._resources.callback(resource.close)
        return resource

    def own(self, close: Callable[[], object]) -> None:
        """``close`` is called when the container closes (before what was built earlier)."""
        self._resources.callback(close)

    def _keyed(self, build: Callable[[Database, list[bytes]], Resource], purpose: bytes) -> Resource:
        """Built with the secrets the key store derives for ``purpose`` (one per root); closed with the container."""
        return self._owned(build(self._db, self.keys.derived_secrets(purpose)))

    @functools.cached_property
    def clock(self) -> Clock:
        return _given_or(self._given.clock, SystemClock)

    @functools.cached_property
    def keys(self) -> KeyStore:
        return _given_or(self._given.keys, self._key_store)

    def _key_store(self) -> KeyStore:
        check_key_store_exists(self._db)  # before build_key_store would create an empty one
        keys = build_key_store(self._db, self.settings.master_key)
        if isinstance(keys, PostgresKeyStore):  # its pool; the SQLite one holds no connection open
            self._resources.callback(keys.close)
        check_keys_cover_log(self._db, lambda subject: keys.data_key(subject) is not None, keys.fingerprint)
        return keys

    @functools.cached_property
    def erasures(self) -> ErasureRegister:
        return _given_or(self._given.erasures, lambda: self._keyed(build_erasure_register, ERASURES_PURPOSE))

    @functools.cached_property
    def store(self) -> AnalyticsStore:
        return _given_or(self._given.store, self._event_store)

    def _event_store(self) -> AnalyticsStore:
        keys = self.keys
        store = self._owned(AnalyticsStore(event_store_env(self._db), lambda: EncryptingMapper(keys)))
        self._pool_watched("events", store.recorder.datastore.pool)  # type: ignore[attr-defined]
        return store

    def _pool_watched(self, name: str, pool: object) -> None:
        """Reported in ``addvalue_db_pool_connections`` until the container closes."""
        self.metrics.watch_pool(name, pool)
        self.own(lambda: self.metrics.unwatch_pool(name))

    @functools.cached_property
    def tokens(self) -> Tokens:
        return _given_or(self._given.tokens, self._jwt_tokens)

    def _jwt_tokens(self) -> Tokens:
        s = self.settings
        return JwtTokens(
            s.jwt_secret,
            issuer=s.jwt_issuer,
            audience=s.jwt_audience,
            jwks=s.jwt_jwks,
            role_claim=s.jwt_role_claim,
            max_lifetime=timedelta(days=s.max_token_lifetime_days),
        )

    @functools.cached_property
    def metrics(self) -> PrometheusMetrics:
        metrics = _given_or(self._given.metrics, PrometheusMetrics)
        if self._db.kind == "postgresql":  # the small stores' pools (access log, quota, sessions, ...)
            metrics.watch_pool("shared", SharedPool.open_pools)
            self.own(lambda: metrics.unwatch_pool("shared"))
        return metrics

    @functools.cached_property
    def geo(self) -> GeoLookup:
        return _given_or(self._given.geo, lambda: self._owned(build_geo_lookup(self.settings.geoip_database)))

    @functools.cached_property
    def leases(self) -> Leases:
        return _given_or(self._given.leases, lambda: self._owned(build_leases(self._db)))

    @functools.cached_property
    def rebuild_journal(self) -> RebuildJournal:
        return self._owned(build_rebuild_journal(self._db))

    @functools.cached_property
    def wakeups(self) -> Wakeups | None:
        if self._given.wakeups is not None:
            return self._given.wakeups
        if self._db.sqlite_path is not None:
            return self._owned(SqliteWakeups(self._db.sqlite_path))
        return self._owned(PostgresWakeups(self._db.url, events_channel(self._db.schema, "addvalue_events")))

    @functools.cached_property
    def access_log(self) -> AccessLog:
        return _given_or(self._given.access_log, lambda: self._keyed(_access_log, ACCESS_LOG_PURPOSE))

    @functools.cached_property
    def api_rate(self) -> ApiRateCounter:
        quota = ApiQuota(limit=self.settings.api_requests_per_hour, window_seconds=API_WINDOW_SECONDS)
        return _given_or(self._given.api_rate, lambda: self._owned(build_api_rate_counter(self._db, quota)))

    @functools.cached_property
    def sessions(self) -> SessionStore:
        return _given_or(self._given.sessions, lambda: self._owned(build_session_store(self._db)))

    @functools.cached_property
    def daily_counts_view(self) -> DailyCountsView:
        return _given_or(
            self._given.daily_counts_view, lambda: self._view(build_daily_counts(self._db), "daily_counts")
        )

    @functools.cached_property
    def live_activity_view(self) -> LiveActivityView:
        return _given_or(
            self._given.live_activity_view, lambda: self._view(build_live_activity(self._db), "live_activity")
        )

    @functools.cached_property
    def user_days_view(self) -> UserDaysView:
        return _given_or(self._given.user_days_view, lambda: self._user_days_tables)

    @functools.cached_property
    def person_reads(self) -> PersonReads:
        return _given_or(self._given.person_reads, lambda: self._user_days_tables)

    @functools.cached_property
    def index_summaries(self) -> IndexSummaries:
        return _given_or(self._given.index_summaries, lambda: self._user_days_tables)

    @functools.cached_property
    def _user_days_tables(self) -> SqliteUserDays | PostgresUserDays:
        """The user-days view, which also answers per-person reads and keeps the index summaries."""
        return self._view(build_user_days(self._db), "user_days")

    def _view(self, view: V, name: str) -> V:
        self._views[id(view)] = view
        self._resources.callback(view.datastore.close)
        self._pool_watched(name, view.datastore.pool)
        return view

    @functools.cached_property
    def alert_tables(self) -> AlertTables:
        """Ingest outcomes per second, the notification outbox and the silences."""
        return self._owned(build_alert_tables(self._db))

    @functools.cached_property
    def alert_senders(self) -> dict[str, Sender]:
        http = HttpSender()
        senders: dict[str, Sender] = {"webhook": http, "slack": http}
        email = smtp_sender(self.settings.smtp_url, self.settings.smtp_from)
        if email is not None:
            senders["email"] = email
            senders[REPORT_MAIL] = ReportMailer(email, self.report_artifacts)  # the same outbox, with the PDF
        return senders

    @functools.cached_property
    def report_artifacts(self) -> ReportArtifacts:
        """The generated executive reports, kept two years."""
        return self._owned(SqlReportArtifacts(self._db))

    @functools.cached_property
    def report_mail(self) -> ReportMail:
        """Report mails through the alerting outbox (one outbox, one delivery loop, one backoff)."""
        return OutboxReportMail(self.alert_tables, self.alert_senders.get(REPORT_MAIL))

    @functools.cached_property
    def report_renderer(self) -> ReportRenderer:
        return WeasyRenderer()

    def upkeep(self, name: str, view: object) -> Upkeep:
        """What the projection ``name`` writing ``view`` gets from the running service."""
        built = self._views.get(id(view))
        return Upkeep(
            # Rebuilds build a view anew beside the live one, then swap it in (a given view is rebuilt in place).
            shadows=functools.partial(ShadowView, self._db, built) if built is not None else None,
            # Only the process holding a projection's lease writes its view, jobs' catch-ups included.
            lease=functools.partial(self.leases.hold, name),
            clock=self.clock,  # events past the metrics' retention (2 years) are not counted
        )

    @functools.cached_property
    def cold_store(self) -> ColdStore:
        if self._given.cold_store is not None:
            return self._given.cold_store
        recorder = self._recorder()
        recorder.use_archive(ParquetArchive(self.settings.archive_dir or default_archive_dir(self._db)))
        return recorder

    @functools.cached_property
    def backups(self) -> Backups:
        s = self.settings
        archive_dir = s.archive_dir or default_archive_dir(self._db)
        return BackupFolder(self._db, archive_dir, s.backup_dir or default_backup_dir(self._db), s.master_key)

    @functools.cached_property
    def metrics_retention(self) -> MetricsRetention:
        if self._given.metrics_retention is not None:
            return self._given.metrics_retention
        views = (self.daily_counts_view, self.live_activity_view, self.user_days_view)
        built = [self._views[id(v)].datastore for v in views if id(v) in self._views]
        return ReadModelRetention(built, also=[self._recorder().purge_not_collected])

    def _recorder(self) -> SqliteIngestRecorder | PostgresIngestRecorder:
        recorder = self.store.recorder
        if not isinstance(recorder, SqliteIngestRecorder | PostgresIngestRecorder):
            raise TypeError(
                "an event store of another kind needs its cold store and metrics retention too: "
                "Overrides(store=..., cold_store=..., metrics_retention=...)"
            )
        return recorder
