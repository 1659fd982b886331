"""The notifier's Store in one SQLite file (WAL), for a single notifier instance."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random

from rarematch.notifier.adapters.claim_rows import holder
from rarematch.notifier.domain.claims import Instance, may_claim
from rarematch.notifier.ports import DigestEntry

__all__ = ["SqliteStore"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS notifier_claims (
    key TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent')),
    claimed_at INTEGER NOT NULL,
    completed_at INTEGER,
    owner TEXT,
    epoch TEXT
);
CREATE TABLE IF NOT EXISTS notifier_instances (
    instance_id TEXT PRIMARY KEY,
    epoch TEXT NOT NULL,
    beat_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS notifier_digest_entries (
    route TEXT NOT NULL,
    key TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (route, key)
);
"""

_OWNER_COLUMNS = (("owner", "TEXT"), ("epoch", "TEXT"))
"""Added to a claims table written before claims had owners (its pending rows are orphans)."""

# Read and write inside one BEGIN IMMEDIATE: SQLite's write lock makes the decision atomic
# across connections and processes.
_HOLDER = (
    "SELECT c.status, c.owner, c.epoch, h.epoch, h.beat_at"
    " FROM notifier_claims c LEFT JOIN notifier_instances h ON h.instance_id = c.owner"
    " WHERE c.key = ?"
)

_TAKE = """
INSERT INTO notifier_claims (key, status, claimed_at, owner, epoch) VALUES (?, 'pending', ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET
    claimed_at = excluded.claimed_at, owner = excluded.owner, epoch = excluded.epoch
WHERE notifier_claims.status = 'pending'
"""

_HEARTBEAT = """
INSERT INTO notifier_instances (instance_id, epoch, beat_at) VALUES (?, ?, ?)
ON CONFLICT (instance_id) DO UPDATE SET epoch = excluded.epoch, beat_at = excluded.beat_at
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

    unavailable: ClassVar[tuple[type[BaseException], ...]] = (sqlite3.OperationalError,)

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
                self._add_owner_columns()

    def _add_owner_columns(self) -> None:
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            columns = {row[1] for row in self._conn.execute("PRAGMA table_info(notifier_claims)")}
            for name, kind in _OWNER_COLUMNS:
                if name not in columns:
                    self._conn.execute(f"ALTER TABLE notifier_claims ADD COLUMN {name} {kind}")

    def _rows(self, query: str, params: Sequence[object]) -> list[Any]:
        with self._lock:
            return self._conn.execute(query, params).fetchall()

    def _write(self, query: str, params: Sequence[object]) -> bool:
        """Run one write; True if it changed a row (an upsert whose WHERE fails changes none)."""
        with self._lock:
            return self._conn.execute(query, params).rowcount == 1

    def heartbeat(self, instance: Instance, now: datetime) -> None:
        self._write(_HEARTBEAT, (instance.id, instance.epoch, _micros(now)))

    def claim(self, key: str, instance: Instance, now: datetime, stale_after_s: float) -> bool:
        at = _micros(now)
        with self._lock, self._conn:  # one transaction: commit, or roll back on error
            self._conn.execute("BEGIN IMMEDIATE")
            row = self._conn.execute(_HOLDER, (key,)).fetchone()
            if row is not None:
                status, owner, epoch, beat_epoch, beat_at = row
                claim, beat = holder(
                    status, owner, epoch, beat_epoch, None if beat_at is None else _moment(beat_at)
                )
                if not may_claim(claim, beat, instance, now, timedelta(seconds=stale_after_s)):
                    return False
            self._conn.execute(_TAKE, (key, at, instance.id, instance.epoch))
            return True

    def completed(self, key: str) -> bool:
        return bool(
            self._rows("SELECT 1 FROM notifier_claims WHERE key = ? AND status = 'sent'", (key,))
        )

    def complete(self, key: str, now: datetime) -> None:
        self._write(_COMPLETE, (key, _micros(now), _micros(now)))

    def release(self, key: str) -> None:
        self._write("DELETE FROM notifier_claims WHERE key = ? AND status = 'pending'", (key,))

    def sent_keys(self, prefix: str) -> list[str]:
        # a range on the primary key: exact, uses its index (LIKE folds case and needs escapes)
        rows = self._rows(
            "SELECT key FROM notifier_claims WHERE key >= ? AND key < ? AND status = 'sent'"
            " ORDER BY key",
            (prefix, prefix + "\U0010ffff"),
        )
        return [key for (key,) in rows if key.startswith(prefix)]

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
