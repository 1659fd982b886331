"""A Store that forgets on exit: for `--dry-run` and for unit tests of the dispatcher."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from rarematch.notifier.ports import DigestEntry

__all__ = ["MemoryStore"]


class MemoryStore:
    def __init__(self) -> None:
        self._claims: dict[str, datetime] = {}
        self._sent: set[str] = set()
        self._digests: dict[str, dict[str, DigestEntry]] = {}
        self._lock = threading.Lock()

    def claim(self, key: str, now: datetime, lease_s: float) -> bool:
        with self._lock:
            if key in self._sent:
                return False
            claimed = self._claims.get(key)
            if claimed is not None and now - claimed < timedelta(seconds=lease_s):
                return False
            self._claims[key] = now
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
