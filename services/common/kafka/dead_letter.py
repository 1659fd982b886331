"""The default error hook: the original record, untouched, plus headers saying why and where."""

from __future__ import annotations

from rarematch.common.contracts.cloudevents import WireRecord
from rarematch.common.kafka.records import Inbound, Outbound

__all__ = ["DLQ_HEADERS", "dead_letter"]

DLQ_HEADERS = ("dlq_reason", "dlq_error", "dlq_topic", "dlq_partition", "dlq_offset", "dlq_service")


def dead_letter(
    inbound: Inbound,
    reason: str,
    error: str,
    topic: str,
    service: str,
    extra: tuple[tuple[str, str], ...] = (),
) -> Outbound:
    """The record as it arrived (key, value, headers) with `dlq_*` headers appended."""
    original = inbound.record
    headers = (
        *(h for h in original.headers if not h[0].startswith("dlq_")),
        ("dlq_reason", reason.encode()),
        ("dlq_error", error.encode("utf-8", "replace")[:4000]),
        ("dlq_topic", inbound.topic.encode()),
        ("dlq_partition", str(inbound.partition).encode()),
        ("dlq_offset", str(inbound.offset).encode()),
        ("dlq_service", service.encode()),
        *((name, value.encode()) for name, value in extra),
    )
    return Outbound(topic, WireRecord(original.key, original.value, headers))
