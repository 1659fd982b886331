"""Watching a rules directory: reload on every settled batch of changes, whatever happens.

Both services reload through `guarded_reload`, so a failed reload is logged, counted in
`rarematch_rules_reloads_total{result}` and survived; `watch_directory` restarts the watch
itself if it breaks (the directory removed and put back, say).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from watchfiles import watch

from rarematch.common import metrics
from rarematch.common.logging import get_logger

__all__ = ["Reload", "guarded_reload", "watch_directory"]

_RESTART_DELAY_S = 1.0
_DEBOUNCE_MS = 300


class Reload(StrEnum):
    """The result label of `rarematch_rules_reloads_total`."""

    APPLIED = "applied"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"
    FAILED = "failed"
    """Not the files' fault: an error of ours, logged by type."""


def guarded_reload(reload: Callable[[], Reload], serving_version: Callable[[], str]) -> Reload:
    """Run `reload`; an exception is a FAILED reload that leaves the serving set in place."""
    try:
        result = reload()
    except Exception as error:  # the watcher must outlive any defect of ours
        get_logger().exception(
            "rules_reload_failed",
            error_type=type(error).__name__,
            serving_version=serving_version(),
        )
        metrics.RULES_ERRORS.set(1)
        result = Reload.FAILED
    metrics.RULES_RELOADS.labels(result.value).inc()
    return result


def watch_directory(
    directory: Path, stop: threading.Event, on_change: Callable[[], object]
) -> None:
    """Call `on_change` after every settled batch of changes under `directory`, until `stop`."""
    log = get_logger()
    while not stop.is_set():
        log.info("rules_watch_started", rules_dir=str(directory))
        try:
            for _changes in watch(
                directory, stop_event=stop, debounce=_DEBOUNCE_MS, raise_interrupt=False
            ):
                on_change()
        except Exception as error:
            log.error(
                "rules_watch_failed", error_type=type(error).__name__, rules_dir=str(directory)
            )
            stop.wait(_RESTART_DELAY_S)
