"""Notifier channels against real servers on loopback: aiosmtpd, an HTTP receiver, Apprise."""

from __future__ import annotations

import json
import logging
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from rarematch.mailcatcher import MailCatcher, catch_mail, email_text, serve_mail
from rarematch.notifier.adapters.apprise_channel import AppriseChannel
from rarematch.notifier.adapters.retry import deliver_with_retry
from rarematch.notifier.adapters.secrets import SecretError, read_secret, read_urls
from rarematch.notifier.adapters.smtp_channel import SmtpChannel, message_id_header
from rarematch.notifier.adapters.webhook_channel import WebhookChannel, WebhookEndpoint
from rarematch.notifier.domain.routing import AppriseTarget, WebhookTarget
from rarematch.notifier.ports import DeliveryError, Notification
from rarematch.ports import free_port
from rarematch.webhook_receiver import new_webhook_secret, receive_webhooks

# apprise 2.x imports the stdlib's deprecated imghdr (PGP support) when first used
pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")

EVENT = {"case_id": "CASE-0042", "program_id": "NCT03373097", "outcome": "eligible"}
NOTE = Notification(
    message_id="msg_0123456789abcdef0123456789abcdef",
    subject="[rarematch] Case CASE-0042: Eligible for NCT03373097",
    text="Case CASE-0042 looks eligible for NCT03373097.\nPlease review.\n",
    chat="**CASE-0042** looks *eligible* for `NCT03373097`",
    payload=json.dumps(EVENT).encode(),
)


def smtp(port: int, recipients: list[str], timeout_s: float = 5.0) -> SmtpChannel:
    return SmtpChannel("127.0.0.1", port, "rarematch@localhost", recipients, timeout_s=timeout_s)


def webhook(url: str, secret: str, timeout_s: float = 5.0) -> WebhookChannel:
    return WebhookChannel([WebhookEndpoint(url, SecretStr(secret), timeout_s)])


class PickyCatcher(MailCatcher):
    """Refuses `nobody@…` for good (550) and `busy@…` for now (451), once per address."""

    def __init__(self) -> None:
        super().__init__()
        self.busy_left = 1
        self.envelopes: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.envelopes.append(list(envelope.rcpt_tos))
        return await super().handle_DATA(server, session, envelope)

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user"
        if address.startswith("busy@") and self.busy_left > 0:
            self.busy_left -= 1
            return "451 4.7.1 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def picky_mail() -> AbstractContextManager[PickyCatcher]:
    return serve_mail(PickyCatcher())


# --- email ------------------------------------------------------------------------------


def test_smtp_channel_delivers_subject_body_and_a_stable_message_id() -> None:
    with catch_mail() as catcher:
        channel = smtp(catcher.port, ["coordinator@example.org", "team@example.org"])
        channel.send(NOTE)
        channel.send(NOTE)  # a redelivery
        first, again = catcher.wait_for(2, timeout_s=5)

    assert first["Subject"] == NOTE.subject
    assert first["To"] == "coordinator@example.org, team@example.org"
    assert first["Message-ID"] == f"<{NOTE.message_id}@rarematch>"
    assert again["Message-ID"] == first["Message-ID"]
    assert first.get_content_type() == "text/plain"
    assert email_text(first).replace("\r\n", "\n") == NOTE.text  # CRLF on the wire


def test_smtp_to_a_closed_port_is_retryable() -> None:
    with pytest.raises(DeliveryError) as raised:
        smtp(free_port(), ["coordinator@example.org"], timeout_s=2).send(NOTE)
    assert raised.value.retryable
    assert "127.0.0.1" in str(raised.value)


def test_smtp_5xx_refusal_is_permanent_and_4xx_is_retryable() -> None:
    with picky_mail() as catcher:
        with pytest.raises(DeliveryError) as refused:
            smtp(catcher.port, ["nobody@example.org"]).send(NOTE)
        assert not refused.value.retryable
        assert "550" in str(refused.value)

        with pytest.raises(DeliveryError) as busy:
            smtp(catcher.port, ["busy@example.org"]).send(NOTE)
        assert busy.value.retryable
        assert "451" in str(busy.value)
        assert catcher.messages == []


def test_smtp_retry_after_partial_refusal_goes_only_to_the_recipient_still_owed() -> None:
    with picky_mail() as catcher:
        channel = smtp(catcher.port, ["coordinator@example.org", "busy@example.org"])
        retries: list[int] = []
        deliver_with_retry(
            channel, NOTE, attempts=3, on_retry=lambda n, e: retries.append(n), sleep=lambda s: None
        )
        messages = catcher.wait_for(2, timeout_s=5)

    assert retries == [1]
    assert len(messages) == 2
    assert catcher.envelopes == [["coordinator@example.org"], ["busy@example.org"]]
    assert all(m["Message-ID"] == message_id_header(NOTE.message_id) for m in messages)


# --- webhook ----------------------------------------------------------------------------


def test_webhook_is_signed_and_verified_by_the_receiver() -> None:
    secret = new_webhook_secret()
    with receive_webhooks(secret) as receiver:
        webhook(receiver.url, secret).send(NOTE)
        (received,) = receiver.wait_for(1, timeout_s=5)

    assert received.payload == EVENT
    assert received.headers["webhook-id"] == NOTE.message_id
    assert received.headers["content-type"] == "application/json"
    assert received.headers["webhook-signature"].startswith("v1,")
    assert receiver.rejected == 0


def test_a_receiver_with_another_secret_rejects_the_signature() -> None:
    with receive_webhooks(new_webhook_secret()) as receiver:
        with pytest.raises(DeliveryError) as raised:
            webhook(receiver.url, new_webhook_secret()).send(NOTE)
        unsigned = httpx.post(receiver.url, content=NOTE.payload, timeout=5)

    assert not raised.value.retryable  # 400
    assert unsigned.status_code == 400
    assert receiver.rejected == 2
    assert receiver.received == []


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (429, True), (400, False)])
def test_webhook_status_decides_whether_to_retry(status: int, retryable: bool) -> None:
    secret = new_webhook_secret()
    with (
        receive_webhooks(secret, status=status) as receiver,
        pytest.raises(DeliveryError) as raised,
    ):
        webhook(receiver.url, secret).send(NOTE)

    assert raised.value.retryable is retryable
    assert f"HTTP {status}" in str(raised.value)
    assert receiver.requests == 1
    assert receiver.received == []


def test_webhook_to_a_closed_port_is_retryable() -> None:
    with pytest.raises(DeliveryError) as raised:
        webhook(f"http://127.0.0.1:{free_port()}/hook", new_webhook_secret()).send(NOTE)
    assert raised.value.retryable


def test_retry_delivers_once_after_two_failures() -> None:
    secret = new_webhook_secret()
    answers = iter([500, 500])
    retries: list[tuple[int, bool]] = []
    sleeps: list[float] = []
    with receive_webhooks(secret, status=lambda: next(answers, 200)) as receiver:
        deliver_with_retry(
            webhook(receiver.url, secret),
            NOTE,
            attempts=5,
            base_delay_s=1.0,
            max_delay_s=1.5,
            on_retry=lambda n, error: retries.append((n, error.retryable)),
            sleep=sleeps.append,
        )
        received = receiver.wait_for(1, timeout_s=5)

    assert len(received) == 1
    assert receiver.requests == 3
    assert retries == [(1, True), (2, True)]
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 1.0  # full jitter: uniform in [0, base * 2**(n-1)] ...
    assert 0 <= sleeps[1] <= 1.5  # ... capped at max_delay_s


def test_retry_stops_at_a_permanent_error_and_when_the_budget_is_spent() -> None:
    secret = new_webhook_secret()
    retries: list[int] = []
    with receive_webhooks(secret, status=400) as receiver:
        with pytest.raises(DeliveryError):
            deliver_with_retry(
                webhook(receiver.url, secret), NOTE, attempts=5, sleep=lambda s: None
            )
        assert receiver.requests == 1

    with receive_webhooks(secret, status=503) as receiver:
        with pytest.raises(DeliveryError) as raised:
            deliver_with_retry(
                webhook(receiver.url, secret),
                NOTE,
                attempts=3,
                on_retry=lambda n, e: retries.append(n),
                sleep=lambda s: None,
            )
        assert receiver.requests == 3
    assert raised.value.retryable
    assert retries == [1, 2]


def test_webhook_target_reads_its_secret_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = new_webhook_secret()
    monkeypatch.setenv("RAREMATCH_TEST_HOOK_SECRET", secret)
    with receive_webhooks(secret) as receiver:
        target = WebhookTarget(url=receiver.url, secret_env="RAREMATCH_TEST_HOOK_SECRET")
        with WebhookChannel.from_targets([target]) as channel:
            channel.send(NOTE)
        assert len(receiver.wait_for(1, timeout_s=5)) == 1


def test_a_secret_that_is_not_whsec_base64_is_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RAREMATCH_TEST_HOOK_SECRET", "hunter2-not-base64!")
    target = WebhookTarget(url="http://127.0.0.1:9/hook", secret_env="RAREMATCH_TEST_HOOK_SECRET")
    with pytest.raises(ValueError, match="RAREMATCH_TEST_HOOK_SECRET") as raised:
        WebhookEndpoint.from_target(target)
    assert "hunter2" not in str(raised.value)


# --- apprise ----------------------------------------------------------------------------


def test_apprise_json_url_from_the_environment_reaches_the_receiver(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with receive_webhooks(None) as receiver:
        monkeypatch.setenv("RAREMATCH_TEST_APPRISE_URLS", receiver.json_url)
        channel = AppriseChannel.from_target(AppriseTarget(urls_env="RAREMATCH_TEST_APPRISE_URLS"))
        channel.send(NOTE)
        (received,) = receiver.wait_for(1, timeout_s=5)

    assert received.payload["title"] == NOTE.subject
    assert received.payload["message"] == NOTE.chat  # json:// passes Markdown through
    assert received.path == "/apprise"
    assert "/apprise" not in caplog.text  # neither Apprise nor urllib3 logged the URL


def test_apprise_failure_is_retryable() -> None:
    with receive_webhooks(None, status=500) as receiver:
        channel = AppriseChannel([SecretStr(receiver.json_url)])
        with pytest.raises(DeliveryError) as raised:
            channel.send(NOTE)
    assert raised.value.retryable
    assert receiver.json_url not in str(raised.value)


# --- secrets ----------------------------------------------------------------------------


def test_missing_or_empty_env_secret_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAREMATCH_TEST_ABSENT", raising=False)
    with pytest.raises(SecretError, match="RAREMATCH_TEST_ABSENT"):
        read_secret("RAREMATCH_TEST_ABSENT", None)

    monkeypatch.setenv("RAREMATCH_TEST_BLANK", "  \n")
    with pytest.raises(SecretError, match=r"RAREMATCH_TEST_BLANK is empty"):
        read_secret("RAREMATCH_TEST_BLANK", None)


def test_secret_and_urls_from_files(tmp_path: Path) -> None:
    secret_file = tmp_path / "hook.secret"
    secret_file.write_text("whsec_c2VjcmV0\n", encoding="utf-8")
    assert read_secret(None, str(secret_file)).get_secret_value() == "whsec_c2VjcmV0"

    with pytest.raises(SecretError, match=r"absent\.secret does not exist"):
        read_secret(None, str(tmp_path / "absent.secret"))

    urls_file = tmp_path / "apprise.urls"
    urls_file.write_text(
        "# team chat\nslack://T1/B2/C3\n\nmailto://u:p@example.org?to=a@x.org,b@x.org\n",
        encoding="utf-8",
    )
    urls = [url.get_secret_value() for url in read_urls(None, str(urls_file))]
    assert urls == ["slack://T1/B2/C3", "mailto://u:p@example.org?to=a@x.org,b@x.org"]


def test_urls_from_env_are_comma_separated() -> None:
    environ = {"URLS": "json://127.0.0.1:1/a, slack://T1/B2/C3,\nmatrix://u:p@h/#r"}
    urls = [url.get_secret_value() for url in read_urls("URLS", None, environ=environ)]
    assert urls == ["json://127.0.0.1:1/a", "slack://T1/B2/C3", "matrix://u:p@h/#r"]
