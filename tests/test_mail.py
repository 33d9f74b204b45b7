"""E-mail: the outbox files and SMTP against a real SMTP server (aiosmtpd) on this machine."""

from __future__ import annotations

import email
import email.policy
import stat
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from credshare.foundation.errors import ConfigError
from credshare.storage.mail import MailError, Outbox, SmtpMailer, make_mailer
from tests.conftest import free_port


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


def test_smtp_delivers_a_well_formed_message(smtp_server) -> None:
    controller, inbox = smtp_server
    SmtpMailer(f"smtp://127.0.0.1:{controller.port}", "credshare@example.org").send(
        "dr.ada@example.org", "Confirm your e-mail address", "Open https://x.example/confirm-email/abc\n")
    ((sender, recipients, raw),) = inbox.messages
    assert sender == "credshare@example.org" and recipients == ["dr.ada@example.org"]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == "Confirm your e-mail address" and message["Message-ID"] and message["Date"]
    assert "confirm-email/abc" in message.get_content()


def test_smtp_refuses_to_send_in_clear_to_a_remote_host(tmp_path: Path) -> None:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.2", port=port)  # no STARTTLS, and not "localhost"
    controller.start()
    try:
        with pytest.raises(MailError) as info:
            SmtpMailer(f"smtp://127.0.0.2:{port}", "credshare@example.org").send("a@example.org", "s", "b")
        assert info.value.code == "mail_unavailable" and inbox.messages == []
    finally:
        controller.stop()


def test_unreachable_server_is_a_mail_error_and_bad_urls_are_config_errors() -> None:
    with pytest.raises(MailError):
        SmtpMailer(f"smtp://127.0.0.1:{free_port()}", "c@example.org").send("a@example.org", "s", "b")
    with pytest.raises(ConfigError):
        SmtpMailer("http://mail.example.org", "c@example.org")


def test_outbox_writes_private_message_files(tmp_path: Path) -> None:
    mailer = make_mailer(None, "credshare@example.org", tmp_path)
    assert isinstance(mailer, Outbox)
    mailer.send("dr.ada@example.org", "Hello", "Body\n")
    (path,) = (tmp_path / "outbox").glob("*.eml")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["To"] == "dr.ada@example.org" and message.get_content() == "Body\n"
