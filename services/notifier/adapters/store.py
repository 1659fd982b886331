"""Opens the notifier's Store: PostgreSQL for a `postgresql://` URL, else the SQLite file."""

from __future__ import annotations

from pathlib import Path

from rarematch.notifier.adapters.sqlite_store import SqliteStore
from rarematch.notifier.ports import Store

__all__ = ["open_store"]


_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(database_url: str | None, sqlite_path: Path) -> Store:
    """Several instances must share PostgreSQL; a lone instance may keep its state in SQLite.

    A URL of any other scheme is refused rather than silently replaced by a local file,
    which would let instances that were meant to share dedup state alert twice.
    """
    if not database_url:
        return SqliteStore(sqlite_path)
    if database_url.startswith(_POSTGRES_SCHEMES):
        # imported only here: psycopg adds a quarter second to every start of a lone instance
        from rarematch.notifier.adapters.postgres_store import PostgresStore

        return PostgresStore(database_url)
    scheme = database_url.split(":", 1)[0]
    raise ValueError(f"unsupported database URL scheme {scheme!r}: use postgresql://")
