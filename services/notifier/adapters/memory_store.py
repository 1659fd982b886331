"""A Store that forgets on exit: for `--dry-run` and for unit tests of the dispatcher."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import ClassVar

from rarematch.notifier.domain.claims import Claim, Heartbeat, Instance, may_claim
from rarematch.notifier.ports import DigestEntry

__all__ = ["MemoryStore"]


class MemoryStore:
    unavailable: ClassVar[tuple[type[BaseException], ...]] = ()
    """It is never unavailable."""

    def __init__(self) -> None:
        self._claims: dict[str, Instance] = {}
        self._beats: dict[str, Heartbeat] = {}
        self._sent: set[str] = set()
        self._digests: dict[str, dict[str, DigestEntry]] = {}
        self._lock = threading.Lock()

    def heartbeat(self, instance: Instance, now: datetime) -> None:
        with self._lock:
            self._beats[instance.id] = Heartbeat(instance.epoch, now)

    def claim(self, key: str, instance: Instance, now: datetime, stale_after_s: float) -> bool:
        with self._lock:
            owner = self._claims.get(key)
            claim = None
            if key in self._sent or owner is not None:
                claim = Claim(sent=key in self._sent, owner=owner)
            beat = self._beats.get(owner.id) if owner is not None else None
            if not may_claim(claim, beat, instance, now, timedelta(seconds=stale_after_s)):
                return False
            self._claims[key] = instance
            return True

    def completed(self, key: str) -> bool:
        with self._lock:
            return key in self._sent

    def complete(self, key: str, now: datetime) -> None:
        with self._lock:
            self._claims.pop(key, None)
            self._sent.add(key)

    def release(self, key: str) -> None:
        with self._lock:
            self._claims.pop(key, None)

    def sent_keys(self, prefix: str) -> list[str]:
        with self._lock:
            return sorted(key for key in self._sent if key.startswith(prefix))

    def add_digest_entry(self, route: str, entry: DigestEntry) -> bool:
        with self._lock:
            entries = self._digests.setdefault(route, {})
            if entry.key in entries:
                return False
            entries[entry.key] = entry
            return True

    def oldest_digest_entry(self, route: str) -> datetime | None:
        with self._lock:
            entries = self._digests.get(route, {})
            return min((e.created_at for e in entries.values()), default=None)

    def digest_entries(self, route: str) -> list[DigestEntry]:
        with self._lock:
            entries = self._digests.get(route, {}).values()
            return sorted(entries, key=lambda e: (e.created_at, e.key))

    def remove_digest_entries(self, route: str, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._digests.get(route, {}).pop(key, None)

    def close(self) -> None:
        return None
