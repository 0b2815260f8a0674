"""Sending notifications: HTTP POST for webhook and Slack receivers, SMTP for email."""

from __future__ import annotations

import smtplib
import ssl
import urllib.request
from email.message import EmailMessage
from typing import Final
from urllib.parse import unquote, urlsplit

from application.alerting.ports import Notification

__all__ = ["HttpSender", "SmtpSender", "smtp_sender"]

TIMEOUT_SECONDS: Final = 10.0


class HttpSender:
    """POSTs the JSON body; any answer but 2xx (or no answer) is a failure the outbox retries."""

    def send(self, notification: Notification) -> None:
        # The alert file allows http:// and https:// URLs only (application.alerting.rules).
        request = urllib.request.Request(  # noqa: S310
            notification.target,
            data=notification.body.encode(),
            headers={"Content-Type": "application/json", "User-Agent": "addvalue-alerts"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
            if not 200 <= answer.status < 300:
                raise OSError(f"{notification.target} answered {answer.status}")


class SmtpSender:
    """Sends through the server of ``ADDVALUE_SMTP_URL``: ``smtp://[user:password@]host[:port]`` (STARTTLS when
    the server offers it) or ``smtps://`` (TLS from the start)."""

    def __init__(self, url: str, sender: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"expected smtp://[user:password@]host[:port] or smtps://…, got {url!r}")
        self._tls = parts.scheme == "smtps"
        self._host = parts.hostname
        self._port = parts.port or (465 if self._tls else 25)
        self._login = (unquote(parts.username), unquote(parts.password or "")) if parts.username else None
        self._from = sender

    @property
    def sender(self) -> str:
        return self._from

    def send(self, notification: Notification) -> None:
        message = EmailMessage()
        message["From"] = self._from
        message["To"] = notification.target
        message["Subject"] = notification.subject
        message.set_content(notification.body)
        self.deliver(message)

    def deliver(self, message: EmailMessage) -> None:
        """Sends a message as it is (the report mails have parts and an attachment: adapters.reports.mail)."""
        context = ssl.create_default_context()
        if self._tls:
            client: smtplib.SMTP = smtplib.SMTP_SSL(self._host, self._port, timeout=TIMEOUT_SECONDS, context=context)
        else:
            client = smtplib.SMTP(self._host, self._port, timeout=TIMEOUT_SECONDS)
        with client:
            if not self._tls:
                client.ehlo()
                if client.has_extn("starttls"):
                    client.starttls(context=context)
            if self._login is not None:
                client.login(*self._login)
            client.send_message(message)


def smtp_sender(url: str | None, sender: str) -> SmtpSender | None:
    return SmtpSender(url, sender) if url else None
