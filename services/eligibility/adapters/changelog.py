"""Rebuild local state from the compacted case-state and decision-state topics.

On assignment of case partitions, each one's state partitions (same number) are read from the
beginning to their last stable offset, committed records only: what a crashed transaction
wrote is never restored.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from rarematch.common.kafka.runner import RECONNECT
from rarematch.common.logging import get_logger
from rarematch.eligibility.state import MATCHING_KEY_PREFIX, PartitionState

__all__ = ["RestoreTimedOut", "active_cases", "restore_partitions"]


class RestoreTimedOut(RuntimeError):
    """The state topics could not be read to their end in time."""


def restore_partitions(
    bootstrap: str,
    security: Mapping[str, Any],
    case_state_topic: str,
    decision_state_topic: str,
    partitions: Iterable[int],
    timeout_s: float = 120.0,
    *,
    report: bool = True,
) -> dict[int, PartitionState]:
    wanted = sorted(set(partitions))
    restored = {partition: PartitionState() for partition in wanted}
    if not wanted:
        return restored
    started = time.monotonic()
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        client_id="rarematch-eligibility-restore",
        max_poll_records=5_000,
        **RECONNECT,
        **dict(security),
    )
    try:
        kinds = {case_state_topic: "case", decision_state_topic: "decisions"}
        assigned = [TopicPartition(t, p) for t in kinds for p in wanted]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        end = consumer.end_offsets(assigned)
        records = 0
        while any(consumer.position(tp) < end[tp] for tp in assigned):
            if time.monotonic() - started > timeout_s:
                raise RestoreTimedOut(
                    f"state of partitions {wanted} not read to its end in {timeout_s:.0f} s"
                )
            for tp, batch in consumer.poll(timeout_ms=500).items():
                state = restored[tp.partition]
                for record in batch:
                    key = record.key.decode() if record.key is not None else ""
                    kind = kinds[tp.topic]
                    if kind == "decisions" and key.startswith(MATCHING_KEY_PREFIX):
                        state.restore("matching", key, record.value)
                    else:
                        state.restore(kind, key, record.value)  # type: ignore[arg-type]
                    records += 1
    finally:
        consumer.close()
    if not report:  # a command's stdout is its output
        return restored
    get_logger().info(
        "state_restored",
        partitions=len(wanted),
        cases=sum(len(s.cases) for s in restored.values()),
        decision_states=sum(len(s.decisions) for s in restored.values()),
        records=records,
        seconds=round(time.monotonic() - started, 2),
    )
    return restored


def active_cases(
    bootstrap: str,
    security: Mapping[str, Any],
    case_state_topic: str,
    decision_state_topic: str,
    timeout_s: float = 120.0,
) -> list[tuple[str, bytes]]:
    """(case id, case JSON) of every active case on the case-state topic, read as an
    instance restores its partitions (committed records, the last per key)."""
    probe = KafkaConsumer(bootstrap_servers=bootstrap, **dict(security))
    try:
        partitions = probe.partitions_for_topic(case_state_topic)
    finally:
        probe.close()
    if not partitions:
        raise RestoreTimedOut(f"topic {case_state_topic} does not exist on {bootstrap}")
    restored = restore_partitions(
        bootstrap,
        security,
        case_state_topic,
        decision_state_topic,
        partitions,
        timeout_s,
        report=False,
    )
    return [
        (case_id, value)
        for _, state in sorted(restored.items())
        for case_id, value in sorted(state.cases.items())
    ]
