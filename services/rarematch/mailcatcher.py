"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives: for the demo and tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, TypeVar

from aiosmtpd.controller import Controller

from rarematch.ports import free_port

__all__ = ["MailCatcher", "catch_mail", "email_text", "serve_mail"]


class MailCatcher:
    """aiosmtpd handler: stores each message, calls `on_message`, wakes waiters."""

    def __init__(self, on_message: Callable[[EmailMessage], None] | None = None) -> None:
        self.port = 0
        self.messages: list[EmailMessage] = []
        self._on_message = on_message
        self._changed = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        if self._on_message:
            self._on_message(message)
        with self._changed:
            self.messages.append(message)
            self._changed.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(
        self, count: int, timeout_s: float, where: Callable[[EmailMessage], bool] = lambda m: True
    ) -> list[EmailMessage]:
        """Wait until `count` messages satisfy `where` (or time runs out); return those."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                found = [m for m in self.messages if where(m)]
                left = deadline - time.monotonic()
                if len(found) >= count or left <= 0:
                    return found
                self._changed.wait(left)


C = TypeVar("C", bound="MailCatcher")


@contextmanager
def catch_mail(
    on_message: Callable[[EmailMessage], None] | None = None, port: int = 0
) -> Iterator[MailCatcher]:
    """Run a MailCatcher on 127.0.0.1 (a free port unless given) until the block ends."""
    with serve_mail(MailCatcher(on_message), port) as catcher:
        yield catcher


@contextmanager
def serve_mail(catcher: C, port: int = 0) -> Iterator[C]:
    """Serve any MailCatcher (a subclass may answer differently) on 127.0.0.1."""
    catcher.port = port or free_port()
    controller = Controller(catcher, hostname="127.0.0.1", port=catcher.port)
    controller.start()
    try:
        yield catcher
    finally:
        controller.stop()


def email_text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    return body.get_content() if body is not None else ""
