"""What `/healthz` and `/readyz` report: the service loop is alive; it is connected and has its
rules. Written by the loop and the bootstrap, read by the HTTP endpoint thread."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

__all__ = ["Health", "Readiness"]

_STALLED_AFTER_S = 300.0
"""No loop iteration for this long means the loop is stuck (a batch of 500 cases against
1,000 programs takes tens of seconds; an iteration otherwise ends every poll timeout)."""


@dataclass(frozen=True)
class Readiness:
    ready: bool
    checks: dict[str, bool]


@dataclass
class Health:
    rules_loaded: bool = False
    connected: bool = False
    _loop_started: bool = False
    _loop_ended: bool = False
    _beat: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def beat(self) -> None:
        """One loop iteration done."""
        with self._lock:
            self._loop_started, self._beat = True, time.monotonic()

    def loop_ended(self) -> None:
        with self._lock:
            self._loop_ended = True

    def alive(self) -> bool:
        with self._lock:
            return not self._loop_ended and time.monotonic() - self._beat < _STALLED_AFTER_S

    def readiness(self) -> Readiness:
        checks = {
            "alive": self.alive(),
            "rules_loaded": self.rules_loaded,
            "kafka_connected": self.connected,
        }
        return Readiness(all(checks.values()), checks)
