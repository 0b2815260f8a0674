"""The one place that composes the service from its settings.

Nothing is built at import time; tests pass their own settings and may swap
any dependency through keyword arguments.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from adapters.api_access.access_log import PostgresAccessLog, SqliteAccessLog, build_access_log
from adapters.api_access.quota import PostgresApiRateCounter, SqliteApiRateCounter, build_api_rate_counter
from adapters.api_access.tokens import JwtTokens
from adapters.clock import SystemClock
from adapters.encryption.keystore import PostgresKeyStore, SqliteKeyStore
from adapters.encryption.mapper import EncryptingMapper, subject_of_state
from adapters.eventstore.persistence import (
    build_key_store,
    event_store_env,
    ping,
    prepare_database,
    tables_created_one_at_a_time,
)
from adapters.eventstore.recorders import PostgresIngestRecorder, SqliteIngestRecorder
from adapters.eventstore.wakeups import PostgresWakeups
from adapters.geo import MaxmindGeoLookup, NoGeoLookup, build_geo_lookup
from adapters.privacy.erasure_register import PostgresErasureRegister, SqliteErasureRegister, build_erasure_register
from adapters.read_models.leases import FileLeases, PostgresLeases, build_leases
from adapters.read_models.live_activity import PostgresLiveActivity, SqliteLiveActivity, build_live_activity
from adapters.read_models.user_days import PostgresUserDays, SqliteUserDays, build_user_days
from adapters.read_models.views import PostgresDailyCounts, ShadowView, SqliteDailyCounts, build_daily_counts
from adapters.retention.archive import ParquetArchive, ReadModelRetention, default_archive_dir
from application.api_access.quota import ApiQuota
from application.ingest.group_commit import GroupCommit
from application.ingest.ingestion import Ingestion
from application.ingest.quarantine_book import QuarantineBook
from application.ports import Clock
from application.privacy.consent import ConsentBook
from application.privacy.erasure import ActiveSubjects, Erasure, ErasureDue
from application.privacy.export import Export
from application.privacy.history import History
from application.read_models.live_activity import LiveActivityProjection
from application.read_models.projections import DailyCountsProjection, PagedProjection
from application.read_models.user_days import UserDaysProjection
from application.reporting.daily_indices import DailyIndices
from application.reporting.day_jobs import CloseDay, HourlyActivity, LateEvents
from application.reporting.jobs import Jobs
from application.reporting.period_summaries import MonthlySummary, WeeklySummary
from application.reporting.ports import IndexSummaries
from application.reporting.queries import Analytics
from application.reporting.reports import Reports
from application.retention.archive import ArchiveSessions, Archiving
from application.sources.intake import SegmentIntake, WriteKeys
from application.store import AnalyticsStore
from domain.indices import IndexWeights
from entrypoints.settings import Settings

__all__ = ["Container", "bootstrap"]


@dataclass(frozen=True)
class Container:
    settings: Settings
    store: AnalyticsStore
    keys: SqliteKeyStore | PostgresKeyStore
    tokens: JwtTokens
    ingestion: Ingestion
    group_commit: GroupCommit
    quarantine: QuarantineBook
    erasure: Erasure
    consent: ConsentBook
    export: Export
    erasures: SqliteErasureRegister | PostgresErasureRegister
    subjects: ActiveSubjects
    history: History
    daily_counts_view: SqliteDailyCounts | PostgresDailyCounts
    daily_counts: DailyCountsProjection
    live_activity_view: SqliteLiveActivity | PostgresLiveActivity
    live_activity: LiveActivityProjection
    user_days_view: SqliteUserDays | PostgresUserDays
    user_days: UserDaysProjection
    jobs: Jobs
    archiving: Archiving
    wakeups: PostgresWakeups | None
    leases: PostgresLeases | FileLeases
    clock: Clock
    geo: MaxmindGeoLookup | NoGeoLookup
    write_keys: WriteKeys
    segment: SegmentIntake
    analytics: Analytics
    access_log: SqliteAccessLog | PostgresAccessLog
    api_rate: SqliteApiRateCounter | PostgresApiRateCounter

    def database_ready(self) -> bool:
        """True when the database answers a query on a fresh connection within 2 s (no retries)."""
        return ping(self.settings.database)

    @property
    def projections(self) -> dict[str, PagedProjection]:
        """Every read model, by name: what the scheduler runs and the CLI rebuilds."""
        return {p.name: p for p in (self.daily_counts, self.live_activity, self.user_days)}

    def close(self) -> None:
        self.store.close()
        self.geo.close()
        self.daily_counts_view.datastore.close()
        self.live_activity_view.datastore.close()
        self.user_days_view.datastore.close()
        self.access_log.close()
        self.erasures.close()
        self.api_rate.close()
        if self.wakeups is not None:
            self.wakeups.close()
        self.leases.close()
        if isinstance(self.keys, PostgresKeyStore):
            self.keys.close()


def bootstrap(settings: Settings, *, clock: Clock | None = None) -> Container:
    with tables_created_one_at_a_time(settings.database):  # processes starting together wait in turn
        prepare_database(settings.database)
        return _compose(settings, clock)


def _compose(settings: Settings, clock: Clock | None) -> Container:
    keys = build_key_store(settings.database, settings.master_key)
    erasures = build_erasure_register(settings.database, keys.derived_secret(b"addvalue erasures"))
    store = AnalyticsStore(event_store_env(settings.database), lambda: EncryptingMapper(keys))
    the_clock = clock or SystemClock()
    view = build_daily_counts(settings.database)
    live_view = build_live_activity(settings.database)
    days_view = build_user_days(settings.database)
    archiving = _archiving(settings, store, [v.datastore for v in (view, live_view, days_view)], the_clock)
    zone = ZoneInfo(settings.reporting_timezone)
    user_days = UserDaysProjection(store, days_view, zone=zone)
    geo = build_geo_lookup(settings.geoip_database)
    ingestion = Ingestion(
        store,
        keys,
        the_clock,
        session_timeout=timedelta(minutes=settings.session_timeout_minutes),
        geo=geo,
        erasures=erasures,
    )
    erasure = Erasure(store, keys, erasures, the_clock, grace=timedelta(days=settings.erasure_grace_days))
    daily_counts = DailyCountsProjection(store, view, zone=zone)
    jobs = _jobs(
        store,
        user_days,
        daily_counts,
        the_clock,
        erasure=erasure,
        archiving=archiving,
        summaries=days_view,
        weights=IndexWeights(**settings.index_weights),
    )
    readers = ActiveSubjects(keys, erasures)
    consent = ConsentBook(store, keys, readers, the_clock)
    history = History(store, subject_of_state)
    indices = next(job for job in jobs.all() if isinstance(job, DailyIndices))
    live_activity = LiveActivityProjection(store, live_view, daily_counts=view, zone=zone)
    leases = build_leases(settings.database)
    for projection, live in ((daily_counts, view), (live_activity, live_view), (user_days, days_view)):
        # Rebuilds build each view anew beside the live one, then swap it in (adapters.read_models.views.ShadowView).
        projection.shadows = functools.partial(ShadowView, settings.database, live)
        # Only the process holding a projection's lease writes its view, jobs' catch-ups included.
        projection.lease = functools.partial(leases.hold, projection.name)
        projection.clock = the_clock  # events past the metrics' retention (2 years) are not counted
    return Container(
        settings=settings,
        store=store,
        keys=keys,
        tokens=JwtTokens(
            settings.jwt_secret,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            jwks=settings.jwt_jwks,
            role_claim=settings.jwt_role_claim,
        ),
        ingestion=ingestion,
        group_commit=GroupCommit(ingestion),
        quarantine=QuarantineBook(store, ingestion),
        erasure=erasure,
        erasures=erasures,
        subjects=readers,
        history=history,
        consent=consent,
        export=Export(
            readers=readers,
            history=history,
            consent=consent,
            user_days=user_days,
            indices=indices,
            clock=the_clock,
        ),
        daily_counts_view=view,
        daily_counts=daily_counts,
        live_activity_view=live_view,
        live_activity=live_activity,
        user_days_view=days_view,
        user_days=user_days,
        wakeups=PostgresWakeups(settings.database.url, "addvalue_events")
        if settings.database.kind == "postgresql"
        else None,
        jobs=jobs,
        leases=leases,
        archiving=archiving,
        clock=the_clock,
        geo=geo,
        write_keys=WriteKeys(settings.write_keys),
        segment=SegmentIntake(ingestion, the_clock),
        analytics=Analytics(
            keys=readers,
            reports=Reports(store),
            user_days=user_days,
            person_reads=days_view,
            summaries=days_view,
            live=live_activity,
            clock=the_clock,
        ),
        access_log=build_access_log(settings.database, keys.derived_secret(b"addvalue access log")),
        api_rate=build_api_rate_counter(
            settings.database, ApiQuota(limit=settings.api_requests_per_hour, window_seconds=API_WINDOW_SECONDS)
        ),
    )


API_WINDOW_SECONDS = 3600  # the API quota is per hour (ADDVALUE_API_REQUESTS_PER_HOUR)


def _archiving(settings: Settings, store: AnalyticsStore, view_datastores: list[Any], clock: Clock) -> Archiving:
    """Attach the archive to the event store (its reads include it from now on) and build the archive run."""
    recorder = store.recorder
    assert isinstance(recorder, SqliteIngestRecorder | PostgresIngestRecorder)
    recorder.use_archive(ParquetArchive(settings.archive_dir or default_archive_dir(settings.database)))
    retention = ReadModelRetention(view_datastores, also=[recorder.purge_not_collected])
    return Archiving(
        store,
        recorder,
        retention,
        clock,
        hot_for=timedelta(days=settings.hot_days),
        session_timeout=timedelta(minutes=settings.session_timeout_minutes),
    )


def _jobs(
    store: AnalyticsStore,
    user_days: UserDaysProjection,
    daily_counts: DailyCountsProjection,
    clock: Clock,
    *,
    erasure: Erasure,
    archiving: Archiving,
    summaries: IndexSummaries,
    weights: IndexWeights,
) -> Jobs:
    reports = Reports(store)
    close_day = CloseDay(store, reports, user_days, clock, daily_counts)
    return Jobs(
        store,
        [
            HourlyActivity(reports, daily_counts.view, daily_counts.catch_up),
            close_day,
            DailyIndices(user_days, summaries, weights),
            WeeklySummary(reports, user_days),
            MonthlySummary(reports, user_days),
            LateEvents(reports, user_days, clock),
            ErasureDue(erasure.complete_due),
            ArchiveSessions(archiving),
        ],
        clock,
        user_days.zone,
    )
