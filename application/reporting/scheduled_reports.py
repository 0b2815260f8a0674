"""The scheduled executive reports: generated once per period, kept two years, mailed through the outbox.

``weekly-executive`` (Mondays 09:00 in the reporting time zone, for the ISO week before) and
``monthly-executive`` (the 1st, 09:00, for the month before) are jobs like the others (reporting.jobs):
a period not over is refused, each run is recorded, owed periods are made up after downtime. A run
generates the report unless it was generated already (a rerun, a resend or a retry never renders
again), then enqueues one mail per recipient in the alerting outbox, keyed (report, period, address):
the alert loop delivers it with the outbox's retries and backoff, so a mail server that is down gets
it once it is back, and enqueueing again adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

import msgspec

from application.errors import NotFound
from application.ports import Clock
from application.reporting.executive import ExecutiveContent
from application.reporting.ports import RecordedReports, ReportArtifact, ReportArtifacts, ReportMail, ReportRenderer
from domain.periods import Cadence, days_of

__all__ = ["KEEP_FOR", "REPORTS", "ExecutiveReport", "ReportDesk", "ReportSpec"]

KEEP_FOR: Final = timedelta(days=2 * 365)  # artifacts are kept two years


@dataclass(frozen=True)
class ReportSpec:
    name: str
    title: str
    cadence: Literal["week", "month"]
    schedule: str  # cron, in the reporting time zone
    summary_job: str  # the job whose recorded summary the report needs
    description: str


REPORTS: Final = {
    s.name: s
    for s in (
        ReportSpec(
            "weekly-executive",
            "Weekly executive report",
            "week",
            "0 9 * * 1",
            "weekly-summary",
            "the ISO week before, mailed Mondays 09:00 (reporting time zone): KPIs, trend, indices, Waves, quality",
        ),
        ReportSpec(
            "monthly-executive",
            "Monthly executive report",
            "month",
            "0 9 1 * *",
            "monthly-summary",
            "the month before, mailed on the 1st, 09:00 (reporting time zone): KPIs, trend, indices, Waves, quality",
        ),
    )
}


class ExecutiveReport:
    """One executive report as a job (reporting.ports.Job); ``local_schedule``: its cron is in the reporting zone."""

    every_period = True
    local_schedule = True

    def __init__(
        self,
        spec: ReportSpec,
        *,
        content: ExecutiveContent,
        reports: RecordedReports,
        artifacts: ReportArtifacts,
        renderer: ReportRenderer,
        mail: ReportMail,
        recipients: Sequence[str],
        clock: Clock,
    ) -> None:
        self.spec = spec
        self.name, self.schedule, self.description = spec.name, spec.schedule, spec.description
        self.cadence: Cadence = spec.cadence
        self._content, self._reports, self._artifacts = content, reports, artifacts
        self._renderer, self._mail, self._recipients, self._clock = renderer, mail, recipients, clock
        # Runs another job for a period through the runner (recorded); set by Jobs.
        self.rerun: Callable[[str, str], int] | None = None

    def run(self, period: str) -> int:
        if self._artifacts.get(self.name, period) is None:
            self.generate(period)
        now = self._clock.now()
        self._artifacts.purge(now - KEEP_FOR)
        return 1 + self._mail.queue(self.name, period, self._recipients, now)

    def generate(self, period: str) -> ReportArtifact:
        """Render and keep the period's report (once: a concurrent run's artifact wins)."""
        self._prepare(period)
        content = self._content.gather(self.name, self.spec.title, self.spec.cadence, period)
        subject, html, pdf = self._renderer.render(content)
        artifact = ReportArtifact(
            report=self.name,
            period=period,
            generated_at=self._clock.now(),
            subject=subject,
            html=html,
            pdf=pdf,
            figures=msgspec.json.encode(content).decode(),
        )
        self._artifacts.add(artifact)
        kept = self._artifacts.get(self.name, period)
        assert kept is not None
        return kept

    def _prepare(self, period: str) -> None:
        """The days and the summary the report reads, computed first where their jobs have not run yet (a
        reporting zone east of UTC reaches 09:00 before the UTC jobs of the night)."""
        assert self.rerun is not None, "ExecutiveReport runs inside Jobs"
        first, last = days_of(self.spec.cadence, period)
        day = first
        while day <= last:
            if self._reports.day(day) is None:
                self.rerun("close-day", day.isoformat())
            day += timedelta(days=1)
        if not self._content.has_indices(last):
            self.rerun("daily-indices", last.isoformat())
        if self._reports.get(self.spec.summary_job, period) is None:
            self.rerun(self.spec.summary_job, period)


class ReportDesk:
    """The kept reports for the API and the command line: list, read, send one to an address now."""

    def __init__(self, artifacts: ReportArtifacts, mail: ReportMail, clock: Clock) -> None:
        self._artifacts, self._mail, self._clock = artifacts, mail, clock

    def listed(self, report: str | None = None) -> list[tuple[str, str, datetime, int]]:
        return self._artifacts.listed(report)

    def get(self, report: str, period: str) -> ReportArtifact:
        if report not in REPORTS:
            raise NotFound(f"no report is called {report!r}; there are: {', '.join(REPORTS)}")
        found = self._artifacts.get(report, period)
        if found is None:
            raise NotFound(f"the {report} report of {period} has not been generated (addvalue reports run)")
        return found

    def send(self, report: str, period: str, address: str) -> bool:
        """Send the kept report to ``address`` now; True if sent, False if queued for the outbox's retries."""
        self.get(report, period)
        return self._mail.send_now(report, period, address, self._clock.now())
