"""The notifier's Store in one SQLite file (WAL), for a single notifier instance."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random

from rarematch.notifier.ports import DigestEntry

__all__ = ["SqliteStore"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS notifier_claims (
    key TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent')),
    claimed_at INTEGER NOT NULL,
    completed_at INTEGER
);
CREATE TABLE IF NOT EXISTS notifier_digest_entries (
    route TEXT NOT NULL,
    key TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (route, key)
);
"""

# A single statement takes SQLite's write lock, so it is atomic across connections and processes.
_CLAIM = """
INSERT INTO notifier_claims (key, status, claimed_at) VALUES (?, 'pending', ?)
ON CONFLICT (key) DO UPDATE SET claimed_at = excluded.claimed_at
WHERE notifier_claims.status = 'pending' AND notifier_claims.claimed_at < ?
"""

_COMPLETE = """
INSERT INTO notifier_claims (key, status, claimed_at, completed_at) VALUES (?, 'sent', ?, ?)
ON CONFLICT (key) DO UPDATE SET status = 'sent', completed_at = excluded.completed_at
WHERE notifier_claims.status = 'pending'
"""


def _locked(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)


def _micros(moment: datetime) -> int:
    """Microseconds since the epoch: exact and ordered, unlike formatted text."""
    if moment.utcoffset() is None:
        raise ValueError("store timestamps must be timezone-aware")
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _moment(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


class SqliteStore:
    """Claims and digest entries in the file at `path`: one autocommit connection, locked."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 10.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        # Switching to WAL takes an exclusive lock without waiting on the busy timeout, so two
        # instances opening a new file at once can see "database is locked": retry briefly.
        for attempt in Retrying(
            retry=retry_if_exception(_locked),
            stop=stop_after_delay(busy_timeout_s),
            wait=wait_random(0.01, 0.1),
            reraise=True,
        ):
            with attempt:
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.executescript(_SCHEMA)

    def _rows(self, query: str, params: Sequence[object]) -> list[Any]:
        with self._lock:
            return self._conn.execute(query, params).fetchall()

    def _write(self, query: str, params: Sequence[object]) -> bool:
        """Run one write; True if it changed a row (an upsert whose WHERE fails changes none)."""
        with self._lock:
            return self._conn.execute(query, params).rowcount == 1

    def claim(self, key: str, now: datetime, lease_s: float) -> bool:
        expired_before = _micros(now - timedelta(seconds=lease_s))
        return self._write(_CLAIM, (key, _micros(now), expired_before))

    def completed(self, key: str) -> bool:
        return bool(
            self._rows("SELECT 1 FROM notifier_claims WHERE key = ? AND status = 'sent'", (key,))
        )

    def complete(self, key: str, now: datetime) -> None:
        self._write(_COMPLETE, (key, _micros(now), _micros(now)))

    def release(self, key: str) -> None:
        self._write("DELETE FROM notifier_claims WHERE key = ? AND status = 'pending'", (key,))

    def add_digest_entry(self, route: str, entry: DigestEntry) -> bool:
        return self._write(
            "INSERT INTO notifier_digest_entries (route, key, body, created_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (route, key) DO NOTHING",
            (route, entry.key, entry.body, _micros(entry.created_at)),
        )

    def oldest_digest_entry(self, route: str) -> datetime | None:
        [(oldest,)] = self._rows(
            "SELECT MIN(created_at) FROM notifier_digest_entries WHERE route = ?", (route,)
        )
        return None if oldest is None else _moment(oldest)

    def digest_entries(self, route: str) -> list[DigestEntry]:
        rows = self._rows(
            "SELECT key, body, created_at FROM notifier_digest_entries WHERE route = ?"
            " ORDER BY created_at, key",
            (route,),
        )
        return [DigestEntry(key, body, _moment(created)) for key, body, created in rows]

    def remove_digest_entries(self, route: str, keys: list[str]) -> None:
        with self._lock, self._conn:  # one transaction: commit, or roll back on error
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "DELETE FROM notifier_digest_entries WHERE route = ? AND key = ?",
                [(route, key) for key in keys],
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()
