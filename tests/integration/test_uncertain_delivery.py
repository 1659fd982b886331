"""When a channel cannot tell whether a message went out, it sends it again under the same
idempotency key: real aiosmtpd and HTTP receivers that got the message but never said so."""

from __future__ import annotations

import json
import threading
from typing import Any

from pydantic import SecretStr

from rarematch.mailcatcher import MailCatcher, serve_mail
from rarematch.notifier.adapters.retry import deliver_with_retry
from rarematch.notifier.adapters.smtp_channel import SmtpChannel, message_id_header
from rarematch.notifier.adapters.webhook_channel import WebhookChannel, WebhookEndpoint
from rarematch.notifier.ports import Notification
from rarematch.webhook_receiver import ReceivedWebhook, new_webhook_secret, receive_webhooks

NOTE = Notification(
    message_id="msg_fedcba9876543210fedcba9876543210",
    subject="[rarematch] Case CASE-0007: Eligible for NCT03373097",
    text="Case CASE-0007 looks eligible for NCT03373097.\n",
    chat="**CASE-0007** looks *eligible*",
    payload=json.dumps({"case_id": "CASE-0007", "outcome": "eligible"}).encode(),
)


class HangsUpAfterData(MailCatcher):
    """Keeps the first message, then drops the connection instead of answering 250."""

    def __init__(self) -> None:
        super().__init__()
        self.hung_up = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        reply = await super().handle_DATA(server, session, envelope)
        if self.hung_up == 0:
            self.hung_up += 1
            server.transport.close()
        return reply


def test_smtp_dropped_after_data_is_resent_with_the_same_message_id() -> None:
    with serve_mail(HangsUpAfterData()) as catcher:
        channel = SmtpChannel(
            "127.0.0.1", catcher.port, "rarematch@localhost", ["team@example.org"], timeout_s=5
        )
        retries: list[str] = []
        deliver_with_retry(
            channel,
            NOTE,
            attempts=3,
            base_delay_s=0.01,
            max_delay_s=0.01,
            on_retry=lambda _, error: retries.append(str(error)),
        )
        messages = catcher.wait_for(2, timeout_s=5)
    assert catcher.hung_up == 1
    assert len(retries) == 1, retries  # the client could not tell, so it sent again
    assert [m["Message-ID"] for m in messages] == [message_id_header(NOTE.message_id)] * 2


def test_webhook_timeout_is_resent_with_the_same_webhook_id() -> None:
    secret = new_webhook_secret()
    release = threading.Event()
    first = threading.Event()

    def slow_first(_: ReceivedWebhook) -> None:
        if not first.is_set():
            first.set()
            release.wait(30)  # answers only after the sender has given up on this request

    with receive_webhooks(secret, on_message=slow_first) as receiver:
        channel = WebhookChannel([WebhookEndpoint(receiver.url, SecretStr(secret), 0.3)])
        retries: list[str] = []
        try:
            deliver_with_retry(
                channel,
                NOTE,
                attempts=3,
                base_delay_s=0.01,
                max_delay_s=0.01,
                on_retry=lambda _, error: retries.append(str(error)),
            )
        finally:
            release.set()
        received = receiver.wait_for(2, timeout_s=10)
        channel.close()
    [retry] = retries
    assert "Timeout" in retry
    assert [r.headers["webhook-id"] for r in received] == [NOTE.message_id] * 2
