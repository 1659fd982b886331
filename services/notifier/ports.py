"""The notifier's ports: where deliveries go (channels) and what it remembers (the store).

Implementations are named by technology in `adapters/` (SmtpChannel, WebhookChannel,
AppriseChannel; SqliteStore, PostgresStore); tests wire fakes from `tests.fakes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

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

    A claim is taken before sending and completed after; a crashed sender's claim expires
    after `lease_s`, so another instance (or the restart) can take it over.
    """

    def claim(self, key: str, now: datetime, lease_s: float) -> bool:
        """True if this caller now owns `key`: it was never sent and no live claim holds it."""
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

    def add_digest_entry(self, route: str, entry: DigestEntry) -> bool:
        """Queue an entry for a digest route; False if that key is already queued."""
        ...

    def oldest_digest_entry(self, route: str) -> datetime | None: ...

    def digest_entries(self, route: str) -> list[DigestEntry]: ...

    def remove_digest_entries(self, route: str, keys: list[str]) -> None: ...

    def close(self) -> None: ...
