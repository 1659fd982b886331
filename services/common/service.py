"""Running a service process: logging, metrics endpoint, clean stop on SIGTERM and Ctrl-C."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

from rarematch.common.endpoints import serve_endpoints
from rarematch.common.health import Health
from rarematch.common.logging import configure_logging, get_logger

__all__ = ["run_service"]


def run_service(
    name: str,
    log_level: str,
    endpoint: tuple[str, int],
    start: Callable[[threading.Event, Health], None],
) -> None:
    """Call `start(stop, health)` until it returns; SIGTERM/SIGINT set `stop` for a clean
    shutdown. `/metrics`, `/healthz` and `/readyz` are served on `endpoint` (host, port)."""
    configure_logging(name, log_level)
    stop = threading.Event()

    def request_stop(signum: int, _: FrameType | None) -> None:
        get_logger().info("stop_requested", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    health = Health()
    host, port = endpoint
    serve_endpoints(host, port, health)
    get_logger().info("service_started", metrics_host=host, metrics_port=port)
    start(stop, health)
