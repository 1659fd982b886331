"""A real HTTP webhook receiver on loopback that verifies Standard Webhooks signatures."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

__all__ = ["ReceivedWebhook", "WebhookReceiver", "new_webhook_secret", "receive_webhooks"]

_MAX_BODY = 1 << 20


def new_webhook_secret() -> str:
    """A fresh Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class ReceivedWebhook:
    """One accepted request: the verified JSON and its headers (names lower-cased)."""

    payload: Any
    headers: dict[str, str]
    path: str


class WebhookReceiver:
    """State shared with the request handlers; `url` / `json_url` are where to send."""

    def __init__(
        self,
        secret: str | None,
        status: int | Callable[[], int],
        on_message: Callable[[ReceivedWebhook], None] | None,
    ) -> None:
        self.port = 0
        self.received: list[ReceivedWebhook] = []
        self.rejected = 0
        self.requests = 0
        self._verifier = Webhook(secret) if secret is not None else None
        self._status = status
        self._on_message = on_message
        self._changed = threading.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    @property
    def json_url(self) -> str:
        """The Apprise `json://` URL for this receiver (create it with `secret=None`)."""
        return f"json://127.0.0.1:{self.port}/apprise"

    def wait_for(self, count: int, timeout_s: float) -> list[ReceivedWebhook]:
        """Wait until `count` requests were accepted (or time runs out); return them all."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return list(self.received)

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> int:
        """Verify, answer with the configured status, and record what a 2xx accepted."""
        with self._changed:
            self.requests += 1
        try:
            if self._verifier is not None:
                payload = self._verifier.verify(body, headers)
            else:
                payload = json.loads(body)
        except (WebhookVerificationError, ValueError):  # bad signature, headers or JSON
            with self._changed:
                self.rejected += 1
            return 400
        status = self._status() if callable(self._status) else self._status
        if 200 <= status < 300:
            message = ReceivedWebhook(payload, headers, path)
            if self._on_message is not None:
                self._on_message(message)
            with self._changed:
                self.received.append(message)
                self._changed.notify_all()
        return status


class _Handler(BaseHTTPRequestHandler):
    receiver: WebhookReceiver  # set on the per-receiver subclass

    def do_POST(self) -> None:
        length = self.headers.get("content-length")
        if length is None or not length.isdigit():
            self._answer(411)
            return
        if int(length) > _MAX_BODY:
            self._answer(413)
            return
        body = self.rfile.read(int(length))
        headers = {name.lower(): value for name, value in self.headers.items()}
        self._answer(self.receiver.handle(self.path, headers, body))

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and the demo read `received` instead."""


@contextmanager
def receive_webhooks(
    secret: str | None,
    status: int | Callable[[], int] = 200,
    on_message: Callable[[ReceivedWebhook], None] | None = None,
) -> Iterator[WebhookReceiver]:
    """Run a receiver on 127.0.0.1 (a free port) until the block ends.

    With a `secret` (`whsec_…`) every request must carry a valid Standard Webhooks
    signature, or it gets 400 and counts in `rejected`; with `secret=None` any JSON is
    accepted (an Apprise `json://` endpoint). `status` (or a callable giving it per
    request) is the answer to valid requests; only 2xx answers are recorded in `received`.
    """
    receiver = WebhookReceiver(secret, status, on_message)
    handler = type("WebhookHandler", (_Handler,), {"receiver": receiver})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="webhook-receiver", daemon=True
    )
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
