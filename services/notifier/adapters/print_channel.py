"""A Channel that prints what it would send: `rarematch notifier --dry-run`."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from rarematch.notifier.ports import Notification

__all__ = ["PrintChannel"]

_print_lock = threading.Lock()


class PrintChannel:
    def __init__(self, name: str, route: str, targets: str, out: TextIO = sys.stdout) -> None:
        self.name = name
        self._route, self._targets, self._out = route, targets, out

    def send(self, notification: Notification) -> None:
        body = notification.chat if self.name == "apprise" else notification.text
        if self.name == "webhook":
            body = notification.payload.decode()
        with _print_lock:
            print(
                f"--- would send by {self.name} to route {self._route} ({self._targets})\n"
                f"Subject: {notification.subject}\n\n{body}",
                file=self._out,
                flush=True,
            )
