"""The default error hook: the original record plus headers saying why and where.

A dead letter always fits the producer's limit: when the original record (value, key and
headers) would not, its headers are left out and its value is cut, and the dead letter says
so with the original's size and SHA-256, so the full record can still be found at its source
topic, partition and offset.
"""

from __future__ import annotations

import hashlib

from rarematch.common.contracts.cloudevents import WireRecord
from rarematch.common.kafka.records import Inbound, Outbound
from rarematch.common.kafka.sizing import MAX_RECORD_BYTES, record_bytes

__all__ = ["DLQ_HEADERS", "TRUNCATION_HEADERS", "dead_letter"]

DLQ_HEADERS = ("dlq_reason", "dlq_error", "dlq_topic", "dlq_partition", "dlq_offset", "dlq_service")
TRUNCATION_HEADERS = ("dlq_truncated", "dlq_original_bytes", "dlq_original_sha256")
_MAX_ERROR_BYTES = 4000


def dead_letter(
    inbound: Inbound,
    reason: str,
    error: str,
    topic: str,
    service: str,
    extra: tuple[tuple[str, str], ...] = (),
    *,
    limit: int = MAX_RECORD_BYTES,
) -> Outbound:
    """The record as it arrived (key, value, headers) with `dlq_*` headers appended."""
    original = inbound.record
    why = (
        ("dlq_reason", reason.encode()),
        ("dlq_error", error.encode("utf-8", "replace")[:_MAX_ERROR_BYTES]),
        ("dlq_topic", inbound.topic.encode()),
        ("dlq_partition", str(inbound.partition).encode()),
        ("dlq_offset", str(inbound.offset).encode()),
        ("dlq_service", service.encode()),
        *((name, value.encode()) for name, value in extra),
    )
    kept = tuple(h for h in original.headers if not h[0].startswith("dlq_"))
    whole = WireRecord(original.key, original.value, (*kept, *why))
    if record_bytes(whole) <= limit:
        return Outbound(topic, whole)
    return Outbound(topic, _truncated(original, why, limit))


def _truncated(original: WireRecord, why: tuple[tuple[str, bytes], ...], limit: int) -> WireRecord:
    value = original.value or b""
    size = record_bytes(original)
    headers = (
        *why,
        ("dlq_truncated", b"true"),
        ("dlq_original_bytes", str(size).encode()),
        ("dlq_original_sha256", hashlib.sha256(value).hexdigest().encode()),
    )
    key = original.key if original.key is None or len(original.key) <= 1024 else None
    head = WireRecord(key, b"", headers)
    room = limit - record_bytes(head) - 16  # the value's length prefix grows with the value
    return WireRecord(key, value[: max(room, 0)], headers)
