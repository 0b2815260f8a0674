"""The one place that composes the service from its settings.

Nothing is built at import time. ``bootstrap(settings, overrides=...)`` builds
each part once: the adapters behind the ports (entrypoints.infrastructure,
each replaceable through :class:`Overrides`), then the use cases on them
(:class:`_Services`). The :class:`Container` it returns closes what was
opened here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from adapters.encryption.mapper import subject_of_state
from adapters.eventstore.persistence import prepare_database, tables_created_one_at_a_time
from application.alerting.evaluation import Alerting
from application.alerting.outcomes import OutcomeTally
from application.alerting.signals import ServiceSignals
from application.api_access.sign_in import SignIn
from application.ingest.group_commit import GroupCommit
from application.ingest.ingestion import Ingestion
from application.ingest.quarantine_book import QuarantineBook
from application.observability.ports import OutcomesSeenBy
from application.privacy.consent import ConsentBook
from application.privacy.erasure import ActiveSubjects, Erasure, ErasureDue
from application.privacy.export import Export
from application.privacy.history import History
from application.quality.book import DailyQuality, HourlyQuality, QualityBook
from application.quality.gathering import Gathering
from application.read_models.live_activity import LiveActivityProjection
from application.read_models.projections import DailyCountsProjection
from application.read_models.rebuilds import Rebuilds
from application.read_models.user_days import UserDaysProjection
from application.reporting.anomalies import MetricAnomalies
from application.reporting.daily_indices import DailyIndices
from application.reporting.day_jobs import CloseDay, HourlyActivity, LateEvents
from application.reporting.executive import ExecutiveContent
from application.reporting.jobs import Jobs
from application.reporting.period_summaries import MonthlySummary, WeeklySummary
from application.reporting.ports import Job
from application.reporting.queries import Analytics
from application.reporting.reports import Reports
from application.reporting.scheduled_reports import REPORTS, ExecutiveReport, ReportDesk
from application.retention.archive import ArchiveSessions, Archiving
from application.retention.backups import BackupJob, ScheduledBackups
from application.sources.intake import SegmentIntake, WriteKeys
from application.sources.outbox import OutboxRelay, outbox_lags
from domain.indices import IndexWeights
from entrypoints.container import Container
from entrypoints.infrastructure import API_WINDOW_SECONDS, Infrastructure
from entrypoints.outbox_loop import OutboxLoop, outbox_follower
from entrypoints.overrides import Overrides
from entrypoints.settings import Settings

__all__ = ["API_WINDOW_SECONDS", "Container", "Overrides", "bootstrap"]

NO_OVERRIDES = Overrides()


def bootstrap(settings: Settings, *, overrides: Overrides = NO_OVERRIDES) -> Container:
    """The service composed from ``settings``, with what ``overrides`` gives in place of what it would build."""
    resources = ExitStack()
    try:
        with tables_created_one_at_a_time(settings.database):  # processes starting together wait in turn
            prepare_database(settings.database)
            return _Services(Infrastructure(settings, overrides, resources)).container(resources)
    except BaseException:
        resources.close()  # what was opened before the failure
        raise


class _Services:
    """The use cases, each built once on the infrastructure's ports when first needed."""

    def __init__(self, infrastructure: Infrastructure) -> None:
        self.ports = infrastructure
        self.settings = infrastructure.settings

    @functools.cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.reporting_timezone)

    @functools.cached_property
    def reports(self) -> Reports:
        return Reports(self.ports.store)

    def container(self, resources: ExitStack) -> Container:
        p = self.ports
        p.cold_store  # noqa: B018 - the archive is attached to the event store before anything reads the log
        return Container(
            settings=self.settings,
            store=p.store,
            keys=p.keys,
            tokens=p.tokens,
            ingestion=self.ingestion,
            group_commit=GroupCommit(self.ingestion, metrics=p.metrics, clock=p.clock, outcomes=self.outcomes_seen),
            quarantine=QuarantineBook(p.store, self.ingestion),
            erasure=self.erasure,
            consent=self.consent,
            export=self.export,
            erasures=p.erasures,
            subjects=self.subjects,
            history=self.history,
            daily_counts_view=p.daily_counts_view,
            daily_counts=self.daily_counts,
            live_activity_view=p.live_activity_view,
            live_activity=self.live_activity,
            user_days_view=p.user_days_view,
            user_days=self.user_days,
            rebuilds=self.rebuilds,
            jobs=self.jobs,
            archiving=self.archiving,
            wakeups=p.wakeups,
            leases=p.leases,
            clock=p.clock,
            geo=p.geo,
            write_keys=WriteKeys(self.settings.write_keys),
            segment=SegmentIntake(self.ingestion, p.clock),
            analytics=self.analytics,
            access_log=p.access_log,
            api_rate=p.api_rate,
            metrics=p.metrics,
            quality=self.quality,
            alerting=self.alerting,
            signals=self.signals,
            sign_in=SignIn(p.sessions, p.clock),
            report_desk=self.report_desk,
            outbox_loop=self.outbox_loop,
            resources=resources,
        )

    @functools.cached_property
    def tally(self) -> OutcomeTally:
        clock = self.ports.clock
        tally = OutcomeTally(self.ports.alert_tables, now=lambda: clock.now().timestamp())
        self.ports.own(tally.stop)  # written before the tables close
        return tally

    @property
    def outcomes_seen(self) -> OutcomesSeenBy:
        """Each request's outcome counts, read by the ``/metrics`` counters and the alert signals' tally."""
        return OutcomesSeenBy(self.ports.metrics, self.tally)

    @functools.cached_property
    def signals(self) -> ServiceSignals:
        p = self.ports
        return ServiceSignals(
            p.store,
            p.alert_tables,
            [self.daily_counts, self.live_activity, self.user_days],
            self.jobs,
            quality=self.quality,  # the data-quality records' latest scores (application/quality)
            reports=self.reports,  # the metric anomalies' records (application/reporting/anomalies.py)
            more_lags=self.outbox_lags,  # an outbox's oldest pending row is pipeline lag too
        )

    @functools.cached_property
    def alerting(self) -> Alerting:
        p = self.ports
        return Alerting(
            p.store,
            self.settings.alerts,
            self.signals,
            outbox=p.alert_tables,
            silences=p.alert_tables,
            senders=p.alert_senders,
            clock=p.clock,
            external_url=self.settings.external_url,
        )

    @functools.cached_property
    def outbox_loop(self) -> OutboxLoop | None:
        """The app databases' outboxes (ADDVALUE_OUTBOX_URLS), followed by the process that runs the jobs."""
        if not self.settings.outbox.urls:
            return None
        p = self.ports
        relay = OutboxRelay(self.ingestion, outcomes=self.outcomes_seen)
        loop = outbox_follower(self.settings, relay, leases=p.leases, metrics=p.metrics)
        p.own(loop.close)
        return loop

    def outbox_lags(self) -> dict[str, float]:
        return outbox_lags(self.outbox_loop.outboxes) if self.outbox_loop is not None else {}

    @functools.cached_property
    def daily_counts(self) -> DailyCountsProjection:
        p, name = self.ports, DailyCountsProjection.name
        return DailyCountsProjection(
            p.store, p.daily_counts_view, zone=self.zone, **p.upkeep(name, p.daily_counts_view)
        )

    @functools.cached_property
    def live_activity(self) -> LiveActivityProjection:
        p = self.ports
        upkeep = p.upkeep(LiveActivityProjection.name, p.live_activity_view)
        return LiveActivityProjection(
            p.store, p.live_activity_view, daily_counts=p.daily_counts_view, zone=self.zone, **upkeep
        )

    @functools.cached_property
    def user_days(self) -> UserDaysProjection:
        p, name = self.ports, UserDaysProjection.name
        return UserDaysProjection(p.store, p.user_days_view, zone=self.zone, **p.upkeep(name, p.user_days_view))

    @functools.cached_property
    def rebuilds(self) -> Rebuilds:
        """Rebuilds asked for while serving (CLI or API), carried out by each projection's lease holder."""
        chosen = (self.daily_counts, self.live_activity, self.user_days)
        return Rebuilds(self.ports.store, {p.name: p for p in chosen}, self.ports.rebuild_journal, self.ports.clock)

    @functools.cached_property
    def ingestion(self) -> Ingestion:
        p, timeout = self.ports, timedelta(minutes=self.settings.session_timeout_minutes)
        return Ingestion(p.store, p.keys, p.clock, session_timeout=timeout, geo=p.geo, erasures=p.erasures)

    @functools.cached_property
    def erasure(self) -> Erasure:
        p, grace = self.ports, timedelta(days=self.settings.erasure_grace_days)
        return Erasure(p.store, p.keys, p.erasures, p.clock, grace=grace)

    @functools.cached_property
    def subjects(self) -> ActiveSubjects:
        return ActiveSubjects(self.ports.keys, self.ports.erasures)

    @functools.cached_property
    def consent(self) -> ConsentBook:
        return ConsentBook(self.ports.store, self.ports.keys, self.subjects, self.ports.clock)

    @functools.cached_property
    def history(self) -> History:
        return History(self.ports.store, subject_of_state)

    @functools.cached_property
    def analytics(self) -> Analytics:
        p, days, live = self.ports, self.user_days, self.live_activity
        return Analytics(
            keys=self.subjects,
            reports=self.reports,
            user_days=days,
            person_reads=p.person_reads,
            summaries=p.index_summaries,
            live=live,
            clock=p.clock,
            min_group_size=self.settings.min_group_size,
        )

    @functools.cached_property
    def archiving(self) -> Archiving:
        p, s = self.ports, self.settings
        return Archiving(
            p.store,
            p.cold_store,
            p.metrics_retention,
            p.clock,
            hot_for=timedelta(days=s.hot_days),
            session_timeout=timedelta(minutes=s.session_timeout_minutes),
        )

    @functools.cached_property
    def backups(self) -> ScheduledBackups:
        keep_for = timedelta(days=self.settings.backup_retention_days)
        return ScheduledBackups(self.ports.backups, self.ports.clock, keep_for=keep_for)

    @functools.cached_property
    def daily_indices(self) -> DailyIndices:
        weights = IndexWeights(**self.settings.index_weights)
        return DailyIndices(self.user_days, self.ports.index_summaries, weights)

    @functools.cached_property
    def jobs(self) -> Jobs:
        reports, user_days, clock = self.reports, self.user_days, self.ports.clock
        close_day = CloseDay(self.ports.store, reports, user_days, clock, self.daily_counts)
        every: list[Job] = [
            HourlyActivity(reports, self.daily_counts.view, self.daily_counts.catch_up),
            close_day,
            self.daily_indices,
            WeeklySummary(reports, user_days),
            MonthlySummary(reports, user_days),
            LateEvents(reports, user_days, clock),
            MetricAnomalies(reports),
            *self.executive_reports,
            ErasureDue(self.erasure.complete_due),
            ArchiveSessions(self.archiving),
            BackupJob(self.backups),
            HourlyQuality(self.quality, self.gathering),
            DailyQuality(self.quality, self.gathering, user_days.zone),
        ]
        return Jobs(self.ports.store, every, clock, user_days.zone, metrics=self.ports.metrics)

    @property
    def executive_reports(self) -> list[Job]:
        p = self.ports
        # The alerts that fired, read when a report is generated (alerting is built on the jobs, so later).
        fired = functools.partial(_fired, lambda: self.alerting)
        content = ExecutiveContent(self.analytics, self.quality, fired, self.zone)
        return [
            ExecutiveReport(
                spec,
                content=content,
                reports=self.reports,
                artifacts=p.report_artifacts,
                renderer=p.report_renderer,
                mail=p.report_mail,
                recipients=self.settings.report_recipients.get(spec.name, ()),
                clock=p.clock,
            )
            for spec in REPORTS.values()
        ]

    @functools.cached_property
    def report_desk(self) -> ReportDesk:
        p = self.ports
        return ReportDesk(p.report_artifacts, p.report_mail, p.clock)

    @functools.cached_property
    def quality(self) -> QualityBook:
        return QualityBook(self.ports.store, self.ports.clock, self.ports.metrics)

    @functools.cached_property
    def gathering(self) -> Gathering:
        projections = (self.daily_counts, self.live_activity, self.user_days)
        return Gathering(
            self.ports.store,
            self.ports.daily_counts_view,
            self.subjects,
            lags=lambda: {p.name: max(p.target() - p.position(), 0) for p in projections},
            cadences=lambda: {job.name: job.cadence for job in self.jobs.all()},
            zone=self.zone,
            catch_up=self.daily_counts.catch_up,
        )

    @functools.cached_property
    def export(self) -> Export:
        days, indices, clock = self.user_days, self.daily_indices, self.ports.clock
        return Export(
            readers=self.subjects,
            history=self.history,
            consent=self.consent,
            user_days=days,
            indices=indices,
            clock=clock,
        )


def _fired(alerting: Callable[[], Alerting], start: datetime, end: datetime) -> list[tuple[str, datetime]]:
    """The alerts that started firing in [start, end)."""
    return [(t.alert, t.at) for t in alerting().history() if t.to == "firing" and start <= t.at < end]
