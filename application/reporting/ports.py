"""Ports of reporting: the reads a metric answer needs, and what a batch job is."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Protocol, runtime_checkable
from uuid import UUID

import msgspec

from application.read_models.ports import DayMetrics
from domain.periods import Cadence
from domain.platform import PlatformDay, PlatformReport

__all__ = [
    "IndexSummaries",
    "Job",
    "NotConfigured",
    "PersonReads",
    "RecordedReports",
    "ReportArtifact",
    "ReportArtifacts",
    "ReportMail",
    "ReportRenderer",
    "SubjectLookup",
]


class SubjectLookup(Protocol):
    """The subject of an app user for reading; None when unknown or erased (privacy.erasure.ActiveSubjects)."""

    def subject_for(self, app_user_id: UUID, *, create: bool = False) -> UUID | None: ...

    def erased(self, app_user_id: UUID) -> bool:
        """Asked to be erased (pending or done)."""


@runtime_checkable
class PersonReads(Protocol):
    """What a per-person answer needs, each in one query (adapters.read_models.user_days has both)."""

    def index_and_days(self, subject_id: UUID, day: date, first: date) -> tuple[bytes | None, int]:
        """The person's stored index results of ``day``, and how many days in [first, day] hold data."""

    def activity_of(self, subject_id: UUID, first: date, last: date) -> tuple[list[DayMetrics], list[date]]:
        """The person's days in [first, last], and every day up to ``last`` with a collected event."""


@runtime_checkable
class IndexSummaries(Protocol):
    """Per-day summaries kept beside the indices (adapters.read_models.user_days)."""

    def index_summaries(self, first: date, last: date) -> dict[date, bytes]:
        """The current summaries of the days in [first, last] that have one."""

    def indices_with_version(self, day: date) -> tuple[int, list[bytes]]:
        """The day's stored index results and its version, as of one moment."""

    def put_index_summary(self, day: date, version: int, summary: bytes) -> bool:
        """Keep ``summary`` unless the day has moved past ``version`` meanwhile."""


class RecordedReports(Protocol):
    """The report jobs' recorded results, as jobs record them and the API reads them (reporting.reports)."""

    def get(self, job: str, period: str) -> PlatformReport | None: ...

    def day(self, day: date) -> PlatformDay | None:
        """The day's closed platform totals (written by the close-day job), None while it is open."""

    def closed_days(self, days: Collection[date]) -> dict[date, PlatformDay]:
        """The closed ones of ``days``, read in one query: what ``day`` answers for each, the open ones absent."""

    def record(self, job: str, period: str, counts: dict[str, int], derived: dict[str, float]) -> int:
        """Record (or merge into) the period's report; 1 if it changed, 0 if a rerun found the same."""


class Job(Protocol):
    name: str
    schedule: str  # cron expression, UTC
    cadence: Cadence  # the kind of period one run computes
    description: str

    def run(self, period: str) -> int:
        """Compute the period (its canonical label, domain.periods); return how many rows were written."""


class ReportArtifact(msgspec.Struct, frozen=True, kw_only=True):
    """One generated report of one period: the e-mail (HTML), its PDF and the figures shown (JSON).

    Non-personal: only platform aggregates, the minimum group size applied.
    """

    report: str
    period: str
    generated_at: datetime
    subject: str
    html: str
    pdf: bytes
    figures: str


class ReportArtifacts(Protocol):
    """The generated reports, kept two years (adapters.reports.artifacts)."""

    def add(self, artifact: ReportArtifact) -> bool:
        """Keep it, unless one is kept for its (report, period) already; True if it was added."""

    def get(self, report: str, period: str) -> ReportArtifact | None: ...

    def listed(self, report: str | None = None) -> list[tuple[str, str, datetime, int]]:
        """(report, period, generated_at, PDF bytes) of every kept artifact, newest period first."""

    def purge(self, before: datetime) -> int:
        """Drop the artifacts generated before ``before``; how many."""


class ReportRenderer(Protocol):
    """Turns a report's figures into the e-mail and the PDF (adapters.reports.render)."""

    def render(self, content: object) -> tuple[str, str, bytes]:
        """(subject, HTML e-mail with inlined CSS, PDF) of a ``reporting.executive.ReportContent``."""


class NotConfigured(Exception):
    """Report mail cannot be sent: ADDVALUE_SMTP_URL is not set."""


class ReportMail(Protocol):
    """Report mails through the notification outbox (adapters.reports.mail), which retries with backoff."""

    def queue(self, report: str, period: str, addresses: Sequence[str], now: datetime) -> int:
        """One mail per address, unless queued before for this (report, period, address); how many were added."""

    def send_now(self, report: str, period: str, address: str, now: datetime) -> bool:
        """Send at once; True if sent, False if it failed and was queued for retries. NotConfigured if no SMTP."""
