"""Notifier over SMTP (stdlib smtplib): one plain-text email per decision."""

from __future__ import annotations

import smtplib
import time
from email.message import EmailMessage
from email.utils import make_msgid

from pydantic import SecretStr

from notifier.domain.render import Message

__all__ = ["SmtpNotifier"]


class SmtpNotifier:
    """Sends with a few quick retries; a lasting failure raises, so the offset is not committed."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        starttls: bool = False,
        username: str | None = None,
        password: SecretStr | None = None,
        timeout_s: float = 10.0,
        attempts: int = 3,
    ) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._starttls, self._username, self._password = starttls, username, password
        self._timeout_s, self._attempts = timeout_s, attempts

    def send(self, recipients: list[str], message: Message) -> None:
        email = EmailMessage()
        email["From"] = self._sender
        email["To"] = ", ".join(recipients)
        email["Subject"] = message.subject
        email["Message-ID"] = make_msgid(domain="rarematch")
        email.set_content(message.body)
        for attempt in range(1, self._attempts + 1):
            try:
                self._deliver(email)
                return
            except (OSError, smtplib.SMTPException):
                if attempt == self._attempts:
                    raise
                time.sleep(0.5 * 2**attempt)

    def _deliver(self, email: EmailMessage) -> None:
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout_s) as client:
            if self._starttls:
                client.starttls()
            if self._username and self._password:
                client.login(self._username, self._password.get_secret_value())
            client.send_message(email)
