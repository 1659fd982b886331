"""Fixtures for the integration tests: a real PostgreSQL server (tests.postgres)."""

from tests.postgres import postgres_url

__all__ = ["postgres_url"]
