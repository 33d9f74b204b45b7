"""Sending e-mail (RFC 5322 messages): over SMTP (RFC 5321, STARTTLS per RFC 3207, or
implicit TLS) when ``CREDSHARE_SMTP_URL`` is set, otherwise into ``<data dir>/outbox/`` as
``.eml`` files (mode 0600) for a development machine or an MTA that picks them up.

``CREDSHARE_SMTP_URL``: ``smtp://[user:password@]host[:port]`` (STARTTLS when the server
offers it; required unless the host is local) or ``smtps://...`` (TLS from the start).
``CREDSHARE_MAIL_FROM`` is the sender address.
"""

from __future__ import annotations

import os
import secrets
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from credshare.foundation.clock import SYSTEM_CLOCK
from credshare.foundation.errors import ConfigError, CredshareError

SMTP_TIMEOUT_S = 20
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


class MailError(CredshareError):
    code = "mail_unavailable"
    http_status = 503


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str) -> None: ...


def _message(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(body)
    return message


class Outbox:
    """Messages as files, one per message, readable by the server's user only."""

    def __init__(self, directory: Path, sender: str) -> None:
        self.directory, self.sender = directory, sender

    def send(self, to: str, subject: str, body: str) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # the machine's time, not a deployment's clock: the names sort in the order of sending
        path = self.directory / f"{SYSTEM_CLOCK.now_ns()}-{secrets.token_hex(4)}.eml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(bytes(_message(self.sender, to, subject, body)))


class SmtpMailer:
    def __init__(self, url: str, sender: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError("CREDSHARE_SMTP_URL is smtp://[user:password@]host[:port] or smtps://...")
        self.implicit_tls = parts.scheme == "smtps"
        self.host, self.port = parts.hostname, parts.port or (465 if self.implicit_tls else 587)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.sender = sender

    def send(self, to: str, subject: str, body: str) -> None:
        context = ssl.create_default_context()
        try:
            if self.implicit_tls:
                client: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=SMTP_TIMEOUT_S, context=context)
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT_S)
            with client:
                client.ehlo()
                if not self.implicit_tls:
                    if client.has_extn("starttls"):
                        client.starttls(context=context)
                        client.ehlo()
                    elif self.host not in _LOCAL_HOSTS or self.user:
                        raise MailError("the SMTP server offers no STARTTLS; refusing to send in clear")
                if self.user:
                    client.login(self.user, self.password or "")
                client.send_message(_message(self.sender, to, subject, body))
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"the e-mail could not be sent ({type(exc).__name__})") from exc


def make_mailer(smtp_url: str | None, sender: str, data_dir: Path) -> Mailer:
    return SmtpMailer(smtp_url, sender) if smtp_url else Outbox(data_dir / "outbox", sender)
