"""Chat channel through Apprise (Slack, Teams, Matrix, json:// …): the Markdown `chat` text."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence

import apprise
from pydantic import SecretStr

from rarematch.notifier.adapters.retry import DeliveryLedger
from rarematch.notifier.adapters.secrets import read_urls
from rarematch.notifier.domain.routing import AppriseTarget
from rarematch.notifier.ports import DeliveryError, Notification

__all__ = ["AppriseChannel", "quiet_apprise_logging"]

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def quiet_apprise_logging() -> None:
    """Keep service URLs (which carry tokens) out of logs, whatever the root level.

    Apprise logs URLs and response bodies (so its logger goes to CRITICAL: its failures
    still surface, as `notify()` returning False); urllib3, under Apprise's `requests`,
    logs each request's host and path (a Slack or Teams token) at DEBUG, so its
    connection-pool logger goes to INFO at least. Loggers already stricter are left alone.
    """
    for name, floor in (("apprise", logging.CRITICAL), ("urllib3.connectionpool", logging.INFO)):
        logger = logging.getLogger(name)
        if logger.level < floor:
            logger.setLevel(floor)


class AppriseChannel:
    """Sends `notification.chat` (Markdown) titled `subject` to each Apprise URL.

    Apprise reports only success or failure, so every failure is retryable; a retry goes
    only to the URLs that have not taken the message yet.
    """

    name = "apprise"

    def __init__(self, urls: Sequence[SecretStr]) -> None:
        if not urls:
            raise ValueError("AppriseChannel needs at least one URL")
        quiet_apprise_logging()
        self._services: dict[str, apprise.Apprise] = {}
        for n, url in enumerate(urls, start=1):
            scheme = _SCHEME.match(url.get_secret_value())
            label = f"apprise URL {n} ({scheme.group(1) if scheme else 'no scheme'})"
            service = apprise.Apprise()
            if not service.add(url.get_secret_value()):
                raise ValueError(f"{label} is not a URL Apprise can use")
            self._services[label] = service
        self._ledger = DeliveryLedger()

    @classmethod
    def from_target(
        cls, target: AppriseTarget, *, environ: Mapping[str, str] | None = None
    ) -> AppriseChannel:
        return cls(read_urls(target.urls_env, target.urls_file, environ=environ))

    @classmethod
    def from_targets(
        cls, targets: Sequence[AppriseTarget], *, environ: Mapping[str, str] | None = None
    ) -> AppriseChannel:
        urls = [
            url
            for target in targets
            for url in read_urls(target.urls_env, target.urls_file, environ=environ)
        ]
        return cls(urls)

    def send(self, notification: Notification) -> None:
        message_id = notification.message_id
        failed = []
        for label in self._ledger.pending(message_id, list(self._services)):
            try:
                delivered = self._services[label].notify(
                    body=notification.chat,
                    title=notification.subject,
                    body_format=apprise.NotifyFormat.MARKDOWN,
                )
            except apprise.exception.AppriseException as error:  # e.g. nothing to send
                raise DeliveryError(f"{label}: {type(error).__name__}", retryable=False) from error
            # bool(): Apprise >= 2 returns an AppriseResult, earlier versions a bool.
            if bool(delivered):
                self._ledger.accepted(message_id, label)
            else:
                failed.append(f"{label} failed")
        self._ledger.conclude(message_id, self.name, failed)
