"""Webhook channel: POSTs the JSON payload, signed per Standard Webhooks, with httpx."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr
from standardwebhooks import Webhook

from rarematch.notifier.adapters.retry import DeliveryLedger
from rarematch.notifier.adapters.secrets import read_secret
from rarematch.notifier.domain.routing import WebhookTarget
from rarematch.notifier.ports import DeliveryError, Notification

__all__ = ["WebhookChannel", "WebhookEndpoint", "check_signing_secret"]

_SECRET_PREFIX = "whsec_"  # noqa: S105 (a format marker, not a secret)
_MIN_KEY_BYTES = 24  # the Standard Webhooks spec: secrets SHOULD be 24 to 64 bytes
_MAX_KEY_BYTES = 64


def check_signing_secret(secret: SecretStr, source: str) -> None:
    """Raise ValueError unless `secret` is `whsec_` + base64 of 24..64 bytes (never shows it).

    standardwebhooks itself decodes leniently: a plain password would be silently turned
    into some other key, which other Standard Webhooks implementations would not agree on.
    """
    value = secret.get_secret_value().removeprefix(_SECRET_PREFIX)
    try:
        key = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not _MIN_KEY_BYTES <= len(key) <= _MAX_KEY_BYTES:
        raise ValueError(
            f"the webhook signing secret from {source} is not a Standard Webhooks secret: "
            f"expected 'whsec_' + base64 of {_MIN_KEY_BYTES} to {_MAX_KEY_BYTES} random bytes"
        )


@dataclass(frozen=True)
class WebhookEndpoint:
    """One receiver: where to POST, the signing secret, and how long to wait."""

    url: str
    secret: SecretStr
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        check_signing_secret(self.secret, f"the endpoint at {self.label}")

    @classmethod
    def from_target(
        cls, target: WebhookTarget, *, environ: Mapping[str, str] | None = None
    ) -> WebhookEndpoint:
        """Reads the secret from the target's environment variable or file."""
        secret = read_secret(target.secret_env, target.secret_file, environ=environ)
        source = (
            f"environment variable {target.secret_env}"
            if target.secret_env
            else f"file {target.secret_file}"
        )
        check_signing_secret(secret, source)
        return cls(str(target.url), secret, target.timeout_s)

    @property
    def label(self) -> str:
        """Scheme, host and port only (a URL's path or query may carry a token)."""
        parts = urlsplit(self.url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}"


class WebhookChannel:
    """Signs and POSTs `notification.payload` to each endpoint; raises DeliveryError.

    2xx is delivered; 408, 429, 5xx and transport errors are retryable; any other status is
    not. `webhook-id` is the notification's message id, so receivers can drop redeliveries;
    a retry goes only to the endpoints that have not accepted it yet.
    """

    name = "webhook"

    def __init__(
        self,
        endpoints: Sequence[WebhookEndpoint],
        *,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not endpoints:
            raise ValueError("WebhookChannel needs at least one endpoint")
        self._endpoints = {
            f"webhook {n} ({endpoint.label})": endpoint
            for n, endpoint in enumerate(endpoints, start=1)
        }
        self._signers = {
            label: Webhook(endpoint.secret.get_secret_value())
            for label, endpoint in self._endpoints.items()
        }
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client(follow_redirects=False)
        self._clock = clock
        self._ledger = DeliveryLedger()

    @classmethod
    def from_targets(
        cls, targets: Sequence[WebhookTarget], *, environ: Mapping[str, str] | None = None
    ) -> WebhookChannel:
        return cls([WebhookEndpoint.from_target(target, environ=environ) for target in targets])

    def send(self, notification: Notification) -> None:
        message_id = notification.message_id
        try:
            # standardwebhooks signs text: the exact bytes sent must be this text as UTF-8.
            data = notification.payload.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DeliveryError("webhook: payload is not UTF-8 JSON", retryable=False) from error
        transient = []
        for label in self._ledger.pending(message_id, list(self._endpoints)):
            failure = self._post(label, message_id, notification.payload, data)
            if failure is None:
                self._ledger.accepted(message_id, label)
            elif failure.retryable:
                transient.append(str(failure))
            else:
                self._ledger.refused(message_id, label, str(failure))
        self._ledger.conclude(message_id, self.name, transient)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> WebhookChannel:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _post(self, label: str, message_id: str, body: bytes, data: str) -> DeliveryError | None:
        endpoint = self._endpoints[label]
        seconds = int(self._clock())
        # sign() does `timestamp.replace(tzinfo=UTC)`: give it an aware UTC time, or a
        # local naive one would be shifted by the UTC offset.
        signature = self._signers[label].sign(
            message_id, datetime.fromtimestamp(seconds, tz=UTC), data
        )
        headers = {
            "content-type": "application/json",
            "user-agent": "rarematch-notifier",
            "webhook-id": message_id,
            "webhook-timestamp": str(seconds),
            "webhook-signature": signature,
        }
        try:
            response = self._client.post(
                endpoint.url, content=body, headers=headers, timeout=endpoint.timeout_s
            )
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as error:
            return DeliveryError(f"{label}: unusable URL ({type(error).__name__})", retryable=False)
        except httpx.HTTPError as error:  # connect/read/write errors and timeouts
            return DeliveryError(f"{label}: {type(error).__name__}: {error}")
        status = response.status_code
        if 200 <= status < 300:
            return None
        reason = f"{label}: HTTP {status} {response.reason_phrase}".rstrip()
        return DeliveryError(reason, retryable=status in (408, 429) or status >= 500)
