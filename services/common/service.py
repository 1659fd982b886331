"""Running a service process: settings, logging, metrics endpoint, clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from types import FrameType
from typing import TypeVar

from pydantic_settings import BaseSettings

from rarematch.common.endpoints import serve_endpoints
from rarematch.common.health import Health
from rarematch.common.kafka.security import KafkaUnreachable
from rarematch.common.logging import configure_logging, get_logger
from rarematch.common.settings import (
    SettingsError,
    known_env_names,
    load_settings,
    unknown_variables,
)

__all__ = ["BAD_SETTINGS_EXIT", "KAFKA_UNREACHABLE_EXIT", "run_service", "settings_from_env"]

BAD_SETTINGS_EXIT = 2
KAFKA_UNREACHABLE_EXIT = 1

S = TypeVar("S", bound=BaseSettings)


def settings_from_env(
    model: type[S],
    also_known: Callable[[S], Iterable[str]] | None = None,
    children: Iterable[type[BaseSettings]] = (),
) -> S:
    """An entry point's settings, read before logging starts, so everything prints plainly.

    One `warning:` line per `RAREMATCH_*` variable nothing reads (a misspelling, most likely);
    `also_known` adds names the settings point at, such as the secrets a routing file names.
    Invalid settings: one `error:` line per bad variable, then exit 2 (no traceback); the
    warnings before them are only the near-misses of known names, which may explain an error
    (`RAREMATCH_RETRY_MAX_DELAY` meant as `RAREMATCH_RETRY_MAX_DELAY_S`).
    `children` are the settings of processes this one starts with its environment (the demo's
    services): checked now, so a bad one stops the start instead of a child later.
    """
    problems: dict[str, None] = {}  # ordered, without the repeats of fields models share
    settings: S | None = None
    try:
        settings = load_settings(model)
    except SettingsError as error:
        problems |= dict.fromkeys(error.problems)
    for child in children:
        try:
            load_settings(child)
        except SettingsError as error:
            problems |= dict.fromkeys(error.problems)
    if settings is None or problems:
        for warning in unknown_variables(os.environ, known_env_names(), misspelt_only=True):
            print(warning, file=sys.stderr)
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        raise SystemExit(BAD_SETTINGS_EXIT)
    known = known_env_names() | frozenset(also_known(settings) if also_known else ())
    for warning in unknown_variables(os.environ, known):
        print(warning, file=sys.stderr)
    return settings


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
    try:
        start(stop, health)
    except KafkaUnreachable as error:  # one line saying where, how and why; no traceback
        get_logger().error("kafka_unreachable", error=str(error))
        raise SystemExit(KAFKA_UNREACHABLE_EXIT) from None
