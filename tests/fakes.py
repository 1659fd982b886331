"""Fakes for testing the notifier's core without SMTP, HTTP or a database."""

from __future__ import annotations

import threading

from rarematch.notifier.ports import DeliveryError, Notification

__all__ = ["FakeChannel"]


class FakeChannel:
    """Records what it is asked to send; fails the first `failures` attempts (or always)."""

    def __init__(self, name: str, failures: int = 0, *, always_fail: bool = False) -> None:
        self.name = name
        self.sent: list[Notification] = []
        self.attempts = 0
        self._failures, self._always_fail = failures, always_fail
        self._lock = threading.Lock()

    def send(self, notification: Notification) -> None:
        with self._lock:
            self.attempts += 1
            if self._always_fail or self.attempts <= self._failures:
                raise DeliveryError(f"{self.name} refused (attempt {self.attempts})")
            self.sent.append(notification)
