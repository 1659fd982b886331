"""The notifier's ports: where deliveries go (channels) and what it remembers (the store).

Implementations are named by technology in `adapters/` (SmtpChannel, WebhookChannel,
AppriseChannel; SqliteStore, PostgresStore); tests wire fakes from `tests.fakes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol

from rarematch.notifier.domain.claims import Instance

__all__ = [
    "Channel",
    "DeliveryError",
    "DigestEntry",
    "Notification",
    "Store",
]


@dataclass(frozen=True)
class Notification:
    """One rendered alert for one route, ready for any channel."""

    message_id: str
    """Stable per delivery: a redelivered alert carries the same id."""
    subject: str
    text: str
    """Plain text (email body)."""
    chat: str
    """Short Markdown (chat)."""
    payload: bytes
    """The match event (or digest) as JSON: the webhook body."""


class DeliveryError(Exception):
    """A channel could not deliver; `retryable` False means retrying cannot help (e.g. 4xx)."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class Channel(Protocol):
    """Delivers one notification to one route's targets on one channel; raises DeliveryError."""

    name: str

    def send(self, notification: Notification) -> None: ...


@dataclass(frozen=True)
class DigestEntry:
    key: str
    body: bytes
    """The decision as JSON (a MatchDecided)."""
    created_at: datetime


class Store(Protocol):
    """Dedup claims and pending digest entries; SQLite for one instance, PostgreSQL for many.

    A claim is taken before sending and completed after. It belongs to one incarnation of one
    notifier instance, which writes a heartbeat every second or so; `claim` takes a pending
    claim over at once when `may_claim` says its holder is gone (an earlier incarnation of the
    same instance, or an instance whose heartbeat is older than `stale_after_s`). The decision
    and the write are one atomic step, so two instances racing for a key never both win.
    """

    unavailable: ClassVar[tuple[type[BaseException], ...]]
    """Errors meaning the store cannot be reached or written: like a lost broker, they stop the
    loop uncommitted (the batch is redelivered later) instead of dead-lettering its records."""

    def heartbeat(self, instance: Instance, now: datetime) -> None:
        """Record that `instance` (this incarnation) is alive at `now`."""
        ...

    def claim(self, key: str, instance: Instance, now: datetime, stale_after_s: float) -> bool:
        """True if `instance` now owns `key`: it was never sent and `may_claim` allows it."""
        ...

    def completed(self, key: str) -> bool:
        """True once `key` was sent (to tell "already sent" from "claimed elsewhere")."""
        ...

    def complete(self, key: str, now: datetime) -> None:
        """Mark `key` sent: it is never claimed again."""
        ...

    def release(self, key: str) -> None:
        """Drop an unfinished claim (delivery dead-lettered), so a replay can send it."""
        ...

    def sent_keys(self, prefix: str) -> list[str]:
        """Keys marked sent that start with `prefix` (an alert prefix: case id, program id)."""
        ...

    def add_digest_entry(self, route: str, entry: DigestEntry) -> bool:
        """Queue an entry for a digest route; False if that key is already queued."""
        ...

    def oldest_digest_entry(self, route: str) -> datetime | None: ...

    def digest_entries(self, route: str) -> list[DigestEntry]: ...

    def remove_digest_entries(self, route: str, keys: list[str]) -> None: ...

    def close(self) -> None: ...
