"""Retrying deliveries (tenacity: exponential backoff, full jitter) and per-target progress."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from rarematch.notifier.ports import Channel, DeliveryError, Notification

__all__ = ["DeliveryLedger", "deliver_with_retry"]


def deliver_with_retry(
    channel: Channel,
    notification: Notification,
    *,
    attempts: int = 4,
    base_delay_s: float = 0.5,
    max_delay_s: float = 30.0,
    on_retry: Callable[[int, DeliveryError], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """`channel.send(notification)`, retrying retryable DeliveryErrors up to `attempts` in all.

    Before retry n the wait is uniform in [0, min(max_delay_s, base_delay_s * 2**(n-1))]
    ("full jitter"). `on_retry(attempt_that_failed, error)` is called before each wait. A
    non-retryable error, any other exception, or the last error once the budget is spent
    is raised unchanged.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts}")
    if base_delay_s < 0 or max_delay_s < 0:
        raise ValueError("delays cannot be negative")

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        if on_retry is not None and isinstance(error, DeliveryError):
            on_retry(state.attempt_number, error)

    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_random_exponential(multiplier=base_delay_s, max=max_delay_s),
        retry=retry_if_exception(lambda e: isinstance(e, DeliveryError) and e.retryable),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )
    retrying(channel.send, notification)


@dataclass
class _Progress:
    accepted: set[str] = field(default_factory=set)
    refused: dict[str, str] = field(default_factory=dict)


class DeliveryLedger:
    """Which of a channel's targets already settled each message, so a retry skips them.

    A channel with several targets (recipients, endpoints, chat URLs) records each target
    as accepted or permanently refused; the next attempt of the same message id sends only
    to the rest. Bounded: the oldest unfinished messages are forgotten beyond `capacity`.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self._capacity = capacity
        self._messages: OrderedDict[str, _Progress] = OrderedDict()
        self._lock = threading.Lock()

    def pending(self, message_id: str, targets: Sequence[str]) -> list[str]:
        """The targets still owed this message (all of them for a message not seen yet)."""
        with self._lock:
            progress = self._messages.get(message_id)
            if progress is None:
                return list(targets)
            self._messages.move_to_end(message_id)
            return [t for t in targets if t not in progress.accepted and t not in progress.refused]

    def accepted(self, message_id: str, target: str) -> None:
        with self._lock:
            self._progress(message_id).accepted.add(target)

    def refused(self, message_id: str, target: str, reason: str) -> None:
        """`target` refused for good (retrying cannot help): `reason` ends up in the error."""
        with self._lock:
            self._progress(message_id).refused[target] = reason

    def conclude(self, message_id: str, channel: str, transient: Sequence[str]) -> None:
        """End an attempt: raise if a target is still owed (`transient`, retryable) or refused.

        Returns (and forgets the message) only when every target accepted it.
        """
        with self._lock:
            if transient:
                progress = self._messages.get(message_id)
                refused = list(progress.refused.values()) if progress else []
                raise DeliveryError(f"{channel}: {'; '.join([*transient, *refused])}")
            progress = self._messages.pop(message_id, None)
        if progress is not None and progress.refused:
            reasons = "; ".join(progress.refused.values())
            raise DeliveryError(f"{channel}: {reasons}", retryable=False)

    def _progress(self, message_id: str) -> _Progress:
        """Under the lock: this message's progress, created (evicting the oldest) if new."""
        progress = self._messages.get(message_id)
        if progress is None:
            progress = self._messages[message_id] = _Progress()
            while len(self._messages) > self._capacity:
                self._messages.popitem(last=False)
        else:
            self._messages.move_to_end(message_id)
        return progress
