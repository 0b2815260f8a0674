"""Report mails: queued in the alerting outbox (its retries and backoff), sent as an HTML e-mail with a
plain-text part and the PDF attached, over the SMTP server of ``ADDVALUE_SMTP_URL``.

An outbox entry of kind ``report`` names the kept artifact (report, period) in its body; the sender reads
the artifact when it sends, so a retry sends what was generated, never a new rendering.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from typing import Final

from adapters.alerting.senders import SmtpSender
from application.alerting.ports import Notification, Outbox, Sender
from application.reporting.ports import NotConfigured, ReportArtifacts

__all__ = ["KIND", "OutboxReportMail", "ReportMailer"]

KIND: Final = "report"


def _mail(report: str, period: str, address: str, key: str) -> Notification:
    body = json.dumps({"report": report, "period": period})
    return Notification(key=key, receiver=f"report:{report}", kind=KIND, target=address, body=body)


class OutboxReportMail:
    """``ReportMail`` on the notification outbox; ``sender``: the outbox's report sender (None: no SMTP)."""

    def __init__(self, outbox: Outbox, sender: Sender | None) -> None:
        self._outbox = outbox
        self._sender = sender

    def queue(self, report: str, period: str, addresses: Sequence[str], now: datetime) -> int:
        mails = [_mail(report, period, a, f"report|{report}|{period}|{a}") for a in addresses]
        return self._outbox.enqueue(mails, now) if mails else 0

    def send_now(self, report: str, period: str, address: str, now: datetime) -> bool:
        if self._sender is None:
            raise NotConfigured("reports are mailed through ADDVALUE_SMTP_URL, which is not set")
        mail = _mail(report, period, address, f"report|{report}|{period}|{address}|{now.isoformat()}")
        try:
            self._sender.send(mail)
        except Exception:  # the server is down, say: the outbox tries again with backoff
            self._outbox.enqueue([mail], now)
            return False
        return True


class ReportMailer:
    """The outbox's ``Sender`` of report mails: reads the artifact the mail names."""

    def __init__(self, smtp: SmtpSender, artifacts: ReportArtifacts) -> None:
        self._smtp = smtp
        self._artifacts = artifacts

    def send(self, notification: Notification) -> None:
        named = json.loads(notification.body)
        artifact = self._artifacts.get(named["report"], named["period"])
        if artifact is None:  # purged after two years: nothing left to send
            raise LookupError(f"the {named['report']} report of {named['period']} is no longer kept")
        message = EmailMessage()
        message["From"] = self._smtp.sender
        message["To"] = notification.target
        message["Subject"] = artifact.subject
        message.set_content(f"{artifact.subject}\n\nThe report is in the HTML part and in the attached PDF.\n")
        message.add_alternative(artifact.html, subtype="html")
        message.add_attachment(
            artifact.pdf, maintype="application", subtype="pdf", filename=f"{artifact.report}-{artifact.period}.pdf"
        )
        self._smtp.deliver(message)
