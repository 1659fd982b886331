"""Writes this notifier instance's heartbeat to the store from a thread of its own.

Deliveries can hold the consumer loop for many seconds (a batch against a slow SMTP server),
so the heartbeat cannot ride on the loop: it beats every `interval_s` while `alive()` holds.
A failed beat is logged (the error type only) and tried again at the next interval; if beats
keep failing, other instances take this one's claims over once its heartbeat is stale.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from rarematch.common.logging import get_logger

__all__ = ["start_heartbeats"]


def start_heartbeats(
    beat: Callable[[], None], interval_s: float, alive: Callable[[], bool]
) -> threading.Thread:
    """Beat once now (so a failing store fails the start), then every `interval_s` in a
    daemon thread until `alive()` turns false."""
    beat()

    def run() -> None:
        failing = False
        stop = threading.Event()
        while not stop.wait(interval_s) and alive():
            try:
                beat()
            except Exception as error:
                if not failing:
                    get_logger().warning("heartbeat_failed", error=type(error).__name__)
                failing = True
            else:
                if failing:
                    get_logger().info("heartbeat_restored")
                failing = False

    thread = threading.Thread(target=run, name="notifier-heartbeat", daemon=True)
    thread.start()
    return thread
