"""Stable consumer-group instance ids (Kafka static membership, KIP-345)."""

from __future__ import annotations

import hashlib
import re

__all__ = ["default_instance_id"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def default_instance_id(service: str, host: str, where: str) -> str:
    """A stable id for an instance of `service` from the host name and where it keeps its state.

    The same host and state location give the same id after a restart, so a restarted
    service takes its partitions back at once instead of waiting out the session timeout; two
    instances on one host that share that state must be given ids of their own. The result is
    a valid Kafka `group.instance.id` (ASCII letters, digits, '.', '_', '-').
    """
    name = _UNSAFE.sub("-", host).strip("-.")[:64] or service
    digest = hashlib.sha256(where.encode()).hexdigest()[:10]
    return f"{service}-{name}-{digest}"
