"""The weekly executive report end to end: ``addvalue serve`` with its alert loop delivering the outbox, the
report generated from the command line, a real SMTP server (aiosmtpd) that is down during the first sends
and up later: exactly one mail arrives, with the PDF attached, holding the API's WAU and mean Flourish Index.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path

import httpx
import pypdf

from domain.periods import days_of, parse_period, previous_period
from tests.alert_receivers import free_port, smtp_server, wait_for
from tests.e2e.served import Served, start_served

_BOSS = "boss@example.org"


def _cli(served: Served, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "entrypoints.cli", "reports", *args]
    return subprocess.run(command, env=served.env, cwd=served.workdir, capture_output=True, text=True, check=False)


def _parts(message: Message) -> dict[str, Message]:
    return {part.get_content_type(): part for part in message.walk()}


def test_the_weekly_report_arrives_once_with_its_pdf_after_the_mail_server_comes_back(
    backend: str, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    week = previous_period("week", now)
    monday, sunday = days_of("week", week)
    port = free_port()
    env = {
        "ADDVALUE_SMTP_URL": f"smtp://127.0.0.1:{port}",
        "ADDVALUE_REPORT_RECIPIENTS_WEEKLY_EXECUTIVE": _BOSS,
        "ADDVALUE_ALERT_INTERVAL_SECONDS": "0.5",
        "ADDVALUE_MIN_GROUP_SIZE": "2",
    }
    prepare = (("demo", "--users", "20", "--days", str((now.date() - monday).days + 1)),)
    with start_served(backend, tmp_path, env=env, prepare=prepare) as served:
        ran = _cli(served, "run", "weekly-executive", "--period", week)
        assert ran.returncode == 0, ran.stderr
        wait_for(lambda: "alert.delivery_failed" in served.output(), what="a send tried while the server is down")
        with smtp_server(port) as mailbox:  # the server comes up on the address the service was given
            wait_for(lambda: mailbox.messages, seconds=90, what="the report once the server is back")
            assert _cli(served, "run", "weekly-executive", "--period", week).returncode == 0  # not sent again
            sent = _cli(served, "send", "weekly-executive", "--period", sunday.isoformat(), "--to", "cfo@example.org")
            assert '"status":"sent"' in sent.stdout, sent.stderr
            wait_for(lambda: len(mailbox.messages) >= 2, what="the report sent by hand")
            scheduled = [m for m in mailbox.messages if m["To"] == _BOSS]
            assert len(scheduled) == 1
        _check_against_the_api(served, _parts(scheduled[0]), week)
        shown = tmp_path / "report.html"
        show = _cli(served, "show", "weekly-executive", "--period", week, "--format", "html", "--output", str(shown))
        assert show.returncode == 0, show.stderr
        html = _parts(scheduled[0])["text/html"].get_payload(decode=True)
        assert isinstance(html, bytes)
        assert shown.read_text().rstrip() == html.decode().rstrip()  # the e-mail as kept
        this_week = parse_period("week", now.date().isoformat())
        refused = _cli(served, "run", "weekly-executive", "--period", this_week)
        assert refused.returncode == 2
        assert "the earliest it may run" in refused.stderr


def _check_against_the_api(served: Served, parts: dict[str, Message], week: str) -> None:
    monday, sunday = days_of("week", week)
    pdf = parts["application/pdf"].get_payload(decode=True)
    assert isinstance(pdf, bytes)
    assert pdf.startswith(b"%PDF")
    analyst = served.bearer("analyst-1", "analyst")
    with httpx.Client(base_url=served.base_url, headers=analyst) as client:
        days = {"from": monday.isoformat(), "to": sunday.isoformat()}
        wau = client.get("/api/dashboard/active-users", params=days).json()["data"]["series"][-1]["wau"]
        last = {"from": sunday.isoformat(), "to": sunday.isoformat()}
        flourish = client.get("/api/dashboard/flourish", params=last).json()["data"]["series"][0]["mean"]
        text = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
        assert re.search(rf"Weekly active\s+people\s+{wau}(?!\d)", text), text
        assert re.search(rf"Mean Flourish Index\s+{flourish:.1f}(?!\d)", text), text
        listed = client.get("/api/reports").json()["data"]["generated"]
        assert [(g["report"], g["period"]) for g in listed] == [("weekly-executive", week)]
        kept = client.get(f"/api/reports/weekly-executive/{week}", params={"format": "pdf"})
        assert kept.status_code == 200
        assert kept.content == pdf
        page = client.get(f"/api/reports/weekly-executive/{week}", params={"format": "html"})
        assert page.headers["content-type"].startswith("text/html")
        mailed = parts["text/html"].get_payload(decode=True)
        assert isinstance(mailed, bytes)
        assert page.text.rstrip() == mailed.decode().rstrip()
        unknown = client.get(f"/api/reports/weekly-executive/{parse_period('week', str(monday - timedelta(7)))}")
        assert unknown.status_code == 404
    person = served.bearer("someone", "user")
    assert httpx.get(f"{served.base_url}/api/reports", headers=person).status_code == 403
