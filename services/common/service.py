"""Running a service process: logging, metrics endpoint, clean stop on SIGTERM and Ctrl-C."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

from rarematch.common.logging import configure_logging, get_logger
from rarematch.common.metrics import serve_metrics

__all__ = ["run_service"]


def run_service(
    name: str, log_level: str, metrics_port: int, start: Callable[[threading.Event], None]
) -> None:
    """Call `start(stop)` until it returns; SIGTERM/SIGINT set `stop` for a clean shutdown."""
    configure_logging(name, log_level)
    stop = threading.Event()

    def request_stop(signum: int, _: FrameType | None) -> None:
        get_logger().info("stop_requested", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    serve_metrics(metrics_port)
    get_logger().info("service_started", metrics_port=metrics_port)
    start(stop)
