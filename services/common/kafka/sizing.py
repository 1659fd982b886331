"""How large a record is on the wire, and the one limit every produce is checked against.

The size is what kafka-python's producer itself estimates (its `max_request_size` check), so a
record that passes here is never refused by the producer, and topics are created to accept it.
"""

from __future__ import annotations

from kafka.record.default_records import DefaultRecordBatchBuilder

from rarematch.common.contracts.cloudevents import MAX_RECORD_BYTES, WireRecord

__all__ = ["MAX_RECORD_BYTES", "TOPIC_MAX_MESSAGE_BYTES", "record_bytes"]

TOPIC_MAX_MESSAGE_BYTES = MAX_RECORD_BYTES + 1024
"""Topics' `max.message.bytes`: a record of MAX_RECORD_BYTES (the producer's
`max_request_size`) in a batch of its own, with the batch header."""


def record_bytes(record: WireRecord) -> int:
    """Serialised size of `record` in a record batch, as the producer checks it."""
    size: int = DefaultRecordBatchBuilder.estimate_size_in_bytes(
        record.key, record.value, list(record.headers)
    )
    return size
