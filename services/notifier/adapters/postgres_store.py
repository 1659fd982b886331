"""The notifier's Store in PostgreSQL (psycopg 3), shared by several notifier instances."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import ClassVar, LiteralString

import psycopg
from psycopg.rows import TupleRow

from rarematch.notifier.adapters.claim_rows import holder
from rarematch.notifier.domain.claims import Instance, may_claim
from rarematch.notifier.ports import DigestEntry

__all__ = ["PostgresStore"]

# A fixed advisory-lock id: instances starting at once create the tables one after another.
_SCHEMA_LOCK = 0x7261_7265_6D61_7463

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS notifier_claims (
        key TEXT PRIMARY KEY,
        status TEXT NOT NULL CHECK (status IN ('pending', 'sent')),
        claimed_at TIMESTAMPTZ NOT NULL,
        completed_at TIMESTAMPTZ,
        owner TEXT,
        epoch TEXT
    )""",
    # a claims table written before claims had owners gets them (its pending rows are orphans)
    "ALTER TABLE notifier_claims ADD COLUMN IF NOT EXISTS owner TEXT",
    "ALTER TABLE notifier_claims ADD COLUMN IF NOT EXISTS epoch TEXT",
    """CREATE TABLE IF NOT EXISTS notifier_instances (
        instance_id TEXT PRIMARY KEY,
        epoch TEXT NOT NULL,
        beat_at TIMESTAMPTZ NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS notifier_digest_entries (
        route TEXT NOT NULL,
        key TEXT NOT NULL,
        body BYTEA NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (route, key)
    )""",
)

# In one transaction: racing inserts of a new key wait for each other and the loser gets no
# row; then the existing row is locked (FOR UPDATE), so two takeovers of one orphaned claim
# serialise. The owner's heartbeat is read only after the lock is held, by a statement of its
# own: in READ COMMITTED that sees the winner's commit (a join in the locking statement would
# pair the re-read claim with the heartbeat of its previous owner, and both would win).
_INSERT_NEW = """
INSERT INTO notifier_claims (key, status, claimed_at, owner, epoch)
VALUES (%s, 'pending', %s, %s, %s)
ON CONFLICT (key) DO NOTHING
RETURNING key
"""

_LOCK_CLAIM = "SELECT status, owner, epoch FROM notifier_claims WHERE key = %s FOR UPDATE"

_OWNER_BEAT = "SELECT epoch, beat_at FROM notifier_instances WHERE instance_id = %s"

_TAKE = """
UPDATE notifier_claims SET claimed_at = %s, owner = %s, epoch = %s
WHERE key = %s AND status = 'pending'
"""

_HEARTBEAT = """
INSERT INTO notifier_instances (instance_id, epoch, beat_at) VALUES (%s, %s, %s)
ON CONFLICT (instance_id) DO UPDATE SET epoch = EXCLUDED.epoch, beat_at = EXCLUDED.beat_at
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

    unavailable: ClassVar[tuple[type[BaseException], ...]] = (psycopg.OperationalError,)

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

    def _connection(self) -> psycopg.Connection[TupleRow]:
        """The connection (hold the lock); one the server dropped is reopened."""
        if self._conn.closed:
            self._conn = self._connect()
        return self._conn

    def _run(self, query: LiteralString, params: Sequence[object]) -> list[TupleRow]:
        """One autocommit statement; a connection the server dropped is reopened for the next."""
        with self._lock:
            cursor = self._connection().execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def heartbeat(self, instance: Instance, now: datetime) -> None:
        self._run(_HEARTBEAT, (instance.id, instance.epoch, _aware(now)))

    def claim(self, key: str, instance: Instance, now: datetime, stale_after_s: float) -> bool:
        mine = (_aware(now), instance.id, instance.epoch)
        with self._lock:
            conn = self._connection()
            with conn.transaction():
                if conn.execute(_INSERT_NEW, (key, *mine)).fetchall():
                    return True
                row = conn.execute(_LOCK_CLAIM, (key,)).fetchone()
                if row is None:
                    return False  # released meanwhile: the caller asks again
                status, owner, epoch = row
                beat_row = conn.execute(_OWNER_BEAT, (owner,)).fetchone() if owner else None
                claim, beat = holder(status, owner, epoch, *(beat_row or (None, None)))
                if not may_claim(claim, beat, instance, now, timedelta(seconds=stale_after_s)):
                    return False
                conn.execute(_TAKE, (*mine, key))
                return True

    def completed(self, key: str) -> bool:
        return bool(
            self._run("SELECT 1 FROM notifier_claims WHERE key = %s AND status = 'sent'", (key,))
        )

    def complete(self, key: str, now: datetime) -> None:
        self._run(_COMPLETE, (key, _aware(now), now))

    def release(self, key: str) -> None:
        self._run("DELETE FROM notifier_claims WHERE key = %s AND status = 'pending'", (key,))

    def sent_keys(self, prefix: str) -> list[str]:
        # left(): exact prefix, no LIKE wildcards to escape
        rows = self._run(
            "SELECT key FROM notifier_claims WHERE left(key, %s) = %s AND status = 'sent'"
            ' ORDER BY key COLLATE "C"',
            (len(prefix), prefix),
        )
        return [key for (key,) in rows]

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
