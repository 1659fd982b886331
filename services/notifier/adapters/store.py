"""Opens the notifier's Store: PostgreSQL for a `postgresql://` URL, else the SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg

from rarematch.notifier.adapters.postgres_store import PostgresStore
from rarematch.notifier.adapters.sqlite_store import SqliteStore
from rarematch.notifier.ports import Store

__all__ = ["STORE_UNAVAILABLE", "open_store"]

STORE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    sqlite3.OperationalError,
    psycopg.OperationalError,
)
"""The store cannot be reached or written: like a lost broker, this stops the loop uncommitted
(the batch is redelivered later) instead of dead-lettering the records it was working on."""

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(database_url: str | None, sqlite_path: Path) -> Store:
    """Several instances must share PostgreSQL; a lone instance may keep its state in SQLite.

    A URL of any other scheme is refused rather than silently replaced by a local file,
    which would let instances that were meant to share dedup state alert twice.
    """
    if not database_url:
        return SqliteStore(sqlite_path)
    if database_url.startswith(_POSTGRES_SCHEMES):
        return PostgresStore(database_url)
    scheme = database_url.split(":", 1)[0]
    raise ValueError(f"unsupported database URL scheme {scheme!r}: use postgresql://")
