"""Waiting in tests: poll a condition until it holds or a deadline passes; never sleep blind.

A test that checks something did *not* happen waits for a positive fact that rules it out
(`settled`: the consumer group committed every record, so whatever it would send is sent).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from prometheus_client import REGISTRY

__all__ = ["committed_offsets", "metric", "settled", "wait_until"]

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T],
    timeout_s: float,
    what: str,
    *,
    poke: Callable[[], object] | None = None,
    every_s: float = 0.05,
) -> T:
    """The first truthy value of `condition()`; fails naming `what` after `timeout_s`.

    `poke` runs between polls, for conditions that need a nudge (touching a watched file).
    """
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        if poke is not None:
            poke()
        time.sleep(every_s)
    return value


def metric(name: str, **labels: str) -> float:
    """A sample of this process's Prometheus registry (0 before the first increment)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


_ADMINS: dict[str, KafkaAdminClient] = {}


def committed_offsets(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    """The group's committed offsets ({} before its first commit or while unreachable)."""
    admin = _ADMINS.get(bootstrap)
    if admin is None:
        admin = _ADMINS[bootstrap] = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    except KafkaError:
        return {}
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


def settled(bootstrap: str, group: str, topic: str) -> bool:
    """True once `group` has committed up to the end of every partition of `topic`."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed"
    )
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
    finally:
        consumer.close()
    committed = committed_offsets(bootstrap, group)
    return bool(ends) and all(committed.get(tp, 0) >= end for tp, end in ends.items())
