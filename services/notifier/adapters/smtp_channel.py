"""Email channel over SMTP (stdlib smtplib): one plain-text message per notification."""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Sequence
from contextlib import suppress
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from hashlib import sha256

from pydantic import SecretStr

from rarematch.common.settings import NotifierSettings
from rarematch.notifier.adapters.retry import DeliveryLedger
from rarematch.notifier.ports import DeliveryError, Notification

__all__ = ["SmtpChannel", "message_id_header"]

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")


def message_id_header(message_id: str) -> str:
    """`<{message_id}@rarematch>`: the same alert always gets the same Message-ID.

    An id that is not a valid RFC 5322 dot-atom (or is very long) is hashed instead.
    """
    valid = len(message_id) <= 200 and _DOT_ATOM.fullmatch(message_id)
    local = message_id if valid else sha256(message_id.encode()).hexdigest()
    return f"<{local}@rarematch>"


class SmtpChannel:
    """Sends `subject` / `text` to the route's recipients; raises DeliveryError, never retries.

    Connection failures, timeouts and 4xx replies are retryable; 5xx replies are not. When
    some recipients accept and others fail, a retry of the same message id goes only to the
    ones still owed it (the Message-ID is the same, so a duplicate is recognisable anyway).
    """

    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: Sequence[str],
        *,
        starttls: bool = False,
        username: str | None = None,
        password: SecretStr | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self._recipients = list(dict.fromkeys(recipients))
        if not self._recipients:
            raise ValueError("SmtpChannel needs at least one recipient")
        if username is not None and password is None:
            raise ValueError(f"SMTP username {username} is set but no password")
        self._host, self._port, self._sender = host, port, sender
        self._starttls, self._username, self._password = starttls, username, password
        self._timeout_s = timeout_s
        self._ledger = DeliveryLedger()

    @classmethod
    def from_settings(cls, settings: NotifierSettings, recipients: Sequence[str]) -> SmtpChannel:
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            recipients,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout_s=settings.smtp_timeout_s,
        )

    @property
    def recipients(self) -> list[str]:
        return list(self._recipients)

    def send(self, notification: Notification) -> None:
        message_id = notification.message_id
        pending = self._ledger.pending(message_id, self._recipients)
        if not pending:
            self._ledger.conclude(message_id, self.name, [])
            return
        email = self._compose(notification)
        try:
            refused = self._transmit(email, pending)
        except smtplib.SMTPRecipientsRefused as error:
            refused = error.recipients
        except smtplib.SMTPNotSupportedError as error:
            raise DeliveryError(
                f"email: {self._where} does not support what was asked ({error})", retryable=False
            ) from error
        except smtplib.SMTPResponseException as error:
            raise DeliveryError(
                f"email: {self._where} replied {_reply(error.smtp_code, error.smtp_error)}",
                retryable=_transient(error.smtp_code),
            ) from error
        except OSError as error:  # refused connection, timeout, TLS, disconnect (SMTPException)
            raise DeliveryError(
                f"email: cannot talk to {self._where} ({type(error).__name__}: {error})"
            ) from error
        transient = []
        for recipient in pending:
            if recipient not in refused:
                self._ledger.accepted(message_id, recipient)
                continue
            code, text = refused[recipient]
            reason = f"{recipient} refused: {_reply(code, text)}"
            if _transient(code):
                transient.append(reason)
            else:
                self._ledger.refused(message_id, recipient, reason)
        self._ledger.conclude(message_id, self.name, transient)

    @property
    def _where(self) -> str:
        return f"SMTP server {self._host}:{self._port}"

    def _compose(self, notification: Notification) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self._sender
        email["To"] = ", ".join(self._recipients)
        email["Subject"] = " ".join(notification.subject.splitlines())
        email["Date"] = format_datetime(datetime.now(UTC))
        email["Message-ID"] = message_id_header(notification.message_id)
        email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
        email.set_content(notification.text)
        return email

    def _transmit(self, email: EmailMessage, to: list[str]) -> dict[str, tuple[int, bytes]]:
        client = smtplib.SMTP(timeout=self._timeout_s)
        try:
            client.connect(self._host, self._port)
            if self._starttls:
                # smtplib's default context does not verify the certificate; this one does.
                client.starttls(context=ssl.create_default_context())
            if self._username is not None and self._password is not None:
                client.login(self._username, self._password.get_secret_value())
            return client.send_message(email, from_addr=self._sender, to_addrs=to)
        finally:
            # The message is already accepted if we got here normally: a failing QUIT must
            # not turn that into an error (smtplib's own `with` would raise).
            with suppress(OSError):
                client.quit()
            client.close()


def _transient(code: int) -> bool:
    """4xx (and smtplib's -1, no reply) may pass later; 5xx will not."""
    return code < 500


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {' '.join(text.split())[:200]}"
