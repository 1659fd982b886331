"""The notifier's Store in PostgreSQL (psycopg 3), shared by several notifier instances."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import LiteralString

import psycopg
from psycopg.rows import TupleRow

from rarematch.notifier.ports import DigestEntry

__all__ = ["PostgresStore"]

# A fixed advisory-lock id: instances starting at once create the tables one after another.
_SCHEMA_LOCK = 0x7261_7265_6D61_7463

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS notifier_claims (
        key TEXT PRIMARY KEY,
        status TEXT NOT NULL CHECK (status IN ('pending', 'sent')),
        claimed_at TIMESTAMPTZ NOT NULL,
        completed_at TIMESTAMPTZ
    )""",
    """CREATE TABLE IF NOT EXISTS notifier_digest_entries (
        route TEXT NOT NULL,
        key TEXT NOT NULL,
        body BYTEA NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (route, key)
    )""",
)

# Racing inserts of one key wait for each other; the loser then sees a live claim, so no row.
# Two takeovers of an expired claim serialise on the row lock and the second sees it renewed.
_CLAIM = """
INSERT INTO notifier_claims (key, status, claimed_at) VALUES (%s, 'pending', %s)
ON CONFLICT (key) DO UPDATE SET claimed_at = EXCLUDED.claimed_at
WHERE notifier_claims.status = 'pending' AND notifier_claims.claimed_at < %s
RETURNING key
"""

_COMPLETE = """
INSERT INTO notifier_claims (key, status, claimed_at, completed_at) VALUES (%s, 'sent', %s, %s)
ON CONFLICT (key) DO UPDATE SET status = 'sent', completed_at = EXCLUDED.completed_at
WHERE notifier_claims.status = 'pending'
"""


def _aware(moment: datetime) -> datetime:
    if moment.utcoffset() is None:
        raise ValueError("store timestamps must be timezone-aware")
    return moment


class PostgresStore:
    """Claims and digest entries in the database at `url`: one autocommit connection, locked."""

    def __init__(self, url: str, *, connect_timeout_s: int = 10) -> None:
        self._url = url
        self._connect_timeout_s = connect_timeout_s
        self._lock = threading.Lock()
        self._conn = self._connect()
        with self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            for statement in _SCHEMA:
                self._conn.execute(statement)

    def _connect(self) -> psycopg.Connection[TupleRow]:
        return psycopg.connect(self._url, autocommit=True, connect_timeout=self._connect_timeout_s)

    def _run(self, query: LiteralString, params: Sequence[object]) -> list[TupleRow]:
        """One autocommit statement; a connection the server dropped is reopened for the next."""
        with self._lock:
            if self._conn.closed:
                self._conn = self._connect()
            cursor = self._conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def claim(self, key: str, now: datetime, lease_s: float) -> bool:
        expired_before = _aware(now) - timedelta(seconds=lease_s)
        return bool(self._run(_CLAIM, (key, now, expired_before)))

    def completed(self, key: str) -> bool:
        return bool(
            self._run("SELECT 1 FROM notifier_claims WHERE key = %s AND status = 'sent'", (key,))
        )

    def complete(self, key: str, now: datetime) -> None:
        self._run(_COMPLETE, (key, _aware(now), now))

    def release(self, key: str) -> None:
        self._run("DELETE FROM notifier_claims WHERE key = %s AND status = 'pending'", (key,))

    def add_digest_entry(self, route: str, entry: DigestEntry) -> bool:
        inserted = self._run(
            "INSERT INTO notifier_digest_entries (route, key, body, created_at)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (route, key) DO NOTHING RETURNING key",
            (route, entry.key, entry.body, _aware(entry.created_at)),
        )
        return bool(inserted)

    def oldest_digest_entry(self, route: str) -> datetime | None:
        [(oldest,)] = self._run(
            "SELECT MIN(created_at) FROM notifier_digest_entries WHERE route = %s", (route,)
        )
        return None if oldest is None else oldest.astimezone(UTC)

    def digest_entries(self, route: str) -> list[DigestEntry]:
        rows = self._run(
            "SELECT key, body, created_at FROM notifier_digest_entries WHERE route = %s"
            ' ORDER BY created_at, key COLLATE "C"',
            (route,),
        )
        return [DigestEntry(key, body, created.astimezone(UTC)) for key, body, created in rows]

    def remove_digest_entries(self, route: str, keys: list[str]) -> None:
        self._run(
            "DELETE FROM notifier_digest_entries WHERE route = %s AND key = ANY(%s)",
            (route, keys),
        )

    def close(self) -> None:
        with self._lock:
            self._conn.close()
