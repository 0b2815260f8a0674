"""The executive reports on SQLite and PostgreSQL: generated once per period from the API's answers, kept,
mailed through the outbox to a real SMTP server (aiosmtpd) with the PDF attached, exactly once; and the
``metric_anomaly`` alert signal.

The service runs on a fixed clock, Monday 2 March 2026 10:00 UTC: the week 2026-W09 (23 February to 1 March)
is over, and 09:00 has passed.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import msgspec
import pypdf
import pytest

from adapters.reports.artifacts import SqlReportArtifacts
from application.alerting.rules import rules_from
from application.principals import Principal
from application.reporting.ports import ReportArtifact
from domain.periods import PeriodNotOver
from domain.platform import PlatformDay
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.demo import demo_batches
from entrypoints.overrides import Overrides
from entrypoints.scheduler import ProjectionScheduler
from entrypoints.settings import Settings
from tests.alert_receivers import free_port, smtp_server
from tests.e2e.export_support import load_demo
from tests.fakes import FixedClock

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
WEEK = "2026-W09"
BOSSES = ("boss@example.org", "cfo@example.org")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


def _service(settings: Settings, clock: FixedClock, smtp_port: int) -> Container:
    changed = msgspec.structs.replace(
        settings,
        smtp_url=f"smtp://127.0.0.1:{smtp_port}",
        report_recipients={"weekly-executive": BOSSES, "monthly-executive": ()},
    )
    return bootstrap(changed, overrides=Overrides(clock=clock))


@pytest.fixture
def service(settings: Settings, clock: FixedClock) -> Iterator[Container]:
    with _service(settings, clock, free_port()) as built:
        load_demo(built, users=20, days=21, hourly_day=date(2026, 3, 1))
        yield built


def _smtp_port(service: Container) -> int:
    assert service.settings.smtp_url is not None
    return int(service.settings.smtp_url.rsplit(":", 1)[1])


def _pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def test_a_week_is_generated_once_and_mailed_once_to_each_recipient_after_the_server_comes_back(
    service: Container, clock: FixedClock
) -> None:
    assert service.jobs.run("weekly-executive", WEEK).status == "succeeded"
    first = service.report_desk.get("weekly-executive", WEEK)
    assert first.pdf.startswith(b"%PDF")
    assert service.alerting.deliver() == (0, 2)  # the mail server is down: both kept for later
    clock.advance(minutes=1)
    assert service.jobs.run("weekly-executive", WEEK).status == "succeeded"  # a rerun: nothing new
    assert service.report_desk.get("weekly-executive", WEEK).generated_at == first.generated_at
    with smtp_server(_smtp_port(service)) as mailbox:  # the server that was down comes up
        clock.advance(minutes=10)  # past the backoff
        assert service.alerting.deliver() == (2, 0)
        clock.advance(hours=1)
        assert service.alerting.deliver() == (0, 0)
        assert sorted(m["To"] for m in mailbox.messages) == sorted(BOSSES)
    message = mailbox.messages[0]
    assert message["Subject"] == "Weekly executive report: 2026-W09"
    parts = {part.get_content_type(): part for part in message.walk()}
    assert {"text/plain", "text/html", "application/pdf"} <= set(parts)
    pdf = parts["application/pdf"].get_payload(decode=True)
    assert pdf == first.pdf
    wau = service.analytics.active_people_series(date(2026, 2, 23), date(2026, 3, 1)).data["series"][-1]["wau"]
    flourish = service.analytics.index_dashboard("flourish", date(2026, 3, 1), date(2026, 3, 1)).data["series"]
    text = _pdf_text(pdf)
    assert re.search(rf"Weekly active\s+people\s+{wau}(?!\d)", text), text
    assert re.search(rf"Mean Flourish Index\s+{flourish[0]['mean']:.1f}(?!\d)", text), text


def test_a_month_is_reported_against_the_month_before_and_mailed_to_no_one_unconfigured(service: Container) -> None:
    ran = service.jobs.run("monthly-executive", "2026-02-14")  # a date in the month names it
    assert (ran.period, ran.status, ran.rows) == ("2026-02", "succeeded", 1)  # generated; no recipient
    text = _pdf_text(service.report_desk.get("monthly-executive", "2026-02").pdf)
    assert "Monthly executive report: 2026-02" in text
    mau = service.analytics.active_people_series(date(2026, 2, 1), date(2026, 2, 28)).data["series"][-1]["mau"]
    assert re.search(rf"Monthly active\s+people\s+{mau}(?!\d)", text), text
    assert re.search(r"vs\s+2026-\s*01", text)  # the month before, beside each figure


def test_a_report_runs_the_jobs_it_needs_that_have_not_run_yet(settings: Settings, clock: FixedClock) -> None:
    with _service(settings, clock, free_port()) as service:  # the night's jobs never ran (a zone east of UTC)
        for batch in demo_batches(users=12, days=10, now=NOW, seed=5):
            service.ingestion.ingest(batch, sent_at=None, principal=Principal(subject="demo", role="service"))
        assert service.jobs.run("weekly-executive", WEEK).status == "succeeded"
        ran = [(r.job, r.period) for r in service.jobs.history() if r.status == "succeeded"]
        week = [(date(2026, 2, 23) + timedelta(days=k)).isoformat() for k in range(7)]
        assert ran == [
            *(("close-day", day) for day in week),
            ("daily-indices", "2026-03-01"),
            ("weekly-summary", WEEK),
            ("weekly-executive", WEEK),
        ]
        text = _pdf_text(service.report_desk.get("weekly-executive", WEEK).pdf)
        assert re.search(r"Mean Flourish Index\s+\d+\.\d", text), text  # computed, not n/a


def test_the_scheduler_makes_up_a_report_missed_while_the_service_was_down(service: Container) -> None:
    assert service.jobs.run("weekly-executive", "2026-W08").status == "succeeded"  # the last one before the outage
    scheduler = ProjectionScheduler(
        [], catch_up_every=1.0, rebuild_every=1e9, jobs=service.jobs, clock=service.clock.now
    )
    assert "weekly-executive" in scheduler.run_due_jobs()  # Monday 10:00: W09's report (due 09:00) is owed
    assert service.report_desk.get("weekly-executive", WEEK).pdf.startswith(b"%PDF")
    assert service.jobs.owed("weekly-executive") == []


def test_a_week_not_over_is_refused_and_nothing_is_kept(service: Container) -> None:
    with pytest.raises(PeriodNotOver):
        service.jobs.run("weekly-executive", "2026-W10")
    assert service.report_desk.listed() == []


def test_owed_reports_follow_the_reporting_zones_clock(settings: Settings, clock: FixedClock) -> None:
    zoned = msgspec.structs.replace(settings, reporting_timezone="America/New_York")
    clock.current = datetime(2026, 3, 2, 13, 30, tzinfo=UTC)  # Monday 08:30 in New York
    with bootstrap(zoned, overrides=Overrides(clock=clock)) as service:
        since = clock.current - timedelta(days=10)
        assert service.jobs.owed("weekly-executive", since=since) == ["2026-W08"]  # W09's report is due at 09:00
        clock.advance(hours=1)
        assert service.jobs.owed("weekly-executive", since=since) == ["2026-W08", "2026-W09"]
        assert service.jobs.next_due("weekly-executive", clock.now()) == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)


def test_artifacts_are_kept_once_per_period_and_purged_after_two_years(settings: Settings) -> None:
    artifacts = SqlReportArtifacts(settings.database)
    try:
        made = ReportArtifact(
            report="weekly-executive",
            period=WEEK,
            generated_at=NOW,
            subject="s",
            html="<p>1</p>",
            pdf=b"%PDF-1",
            figures="{}",
        )
        assert artifacts.add(made)
        assert not artifacts.add(msgspec.structs.replace(made, html="<p>2</p>"))
        assert artifacts.get("weekly-executive", WEEK) == made
        assert artifacts.listed() == [("weekly-executive", WEEK, NOW, 6)]
        assert artifacts.purge(NOW) == 0
        assert artifacts.purge(NOW + timedelta(seconds=1)) == 1
        assert artifacts.get("weekly-executive", WEEK) is None
    finally:
        artifacts.close()


def test_a_metric_anomaly_fires_the_rule_that_names_it(settings: Settings, clock: FixedClock) -> None:
    document = {
        "alerts": [{"name": "Metric anomaly", "condition": "metric_anomaly > 0", "severity": "info"}],
        "receivers": {},
    }
    changed = msgspec.structs.replace(settings, alerts=rules_from(document, "test"))
    with bootstrap(changed, overrides=Overrides(clock=clock)) as service:
        assert service.alerting.evaluate() == []  # no day checked: no data
        yesterday = NOW.date() - timedelta(days=1)
        for back in range(30, 0, -1):
            day = NOW.date() - timedelta(days=back)
            dau = 400 + (day.weekday() * 3) + (500 if day == yesterday else 0)
            service.store.save(PlatformDay.close(day, {"daily_active_people": dau}))
        assert service.jobs.run("metric-anomalies", yesterday).status == "succeeded"
        fired = service.alerting.evaluate()
        assert [(t.alert, t.to, t.values) for t in fired] == [("Metric anomaly", "firing", {"metric_anomaly": 1.0})]
