"""The consume -> decode -> handle -> produce -> commit loop, written once for both services.

Per batch, in this order:
1. poll a batch of records;
2. decode each (CloudEvents binary mode + pydantic); an invalid record is dead-lettered;
3. call the handler, which returns the records to produce; `RecordRejected` dead-letters;
4. send everything, then `flush()` and check that every send was acknowledged (acks=all);
5. only then commit the offsets of the batch.
Any other exception stops the loop *without* committing, so the batch is redelivered.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.errors import (
    CommitFailedError,
    IllegalGenerationError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)

from rarematch.common import metrics
from rarematch.common.contracts.cloudevents import DecodeError, Envelope, WireRecord, decode
from rarematch.common.kafka.dead_letter import dead_letter
from rarematch.common.kafka.records import Inbound, Outbound, RecordRejected
from rarematch.common.kafka.topics import Topic
from rarematch.common.logging import bind_record, get_logger, unbind_record

__all__ = ["DeliveryFailed", "Handler", "KafkaLoop", "connect"]

_REBALANCED = (
    CommitFailedError,
    IllegalGenerationError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)

Handler = Callable[[Envelope, Inbound], Sequence[Outbound]]
BatchHandler = Callable[[list[tuple[Envelope, Inbound]]], Sequence[Outbound]]
"""For handlers that work a whole batch at once (the notifier delivers concurrently)."""
Tick = Callable[[], Sequence[Outbound]]
"""Periodic work between polls (digests); its records are produced before the next commit."""


class DeliveryFailed(RuntimeError):
    """A produced record was not acknowledged; the batch is not committed."""


class Consumer(Protocol):
    def poll(
        self, timeout_ms: int = ..., max_records: int | None = ...
    ) -> dict[Any, list[Any]]: ...
    def commit(self, offsets: dict[Any, Any] | None = ...) -> None: ...
    def close(self) -> None: ...


class Producer(Protocol):
    def send(
        self, topic: str, value: bytes | None = ..., key: bytes | None = ..., headers: Any = ...
    ) -> Any: ...
    def flush(self, timeout: float | None = ...) -> None: ...
    def close(self, timeout: float | None = ...) -> None: ...


def connect(bootstrap: str, group_id: str, topic: str, client_id: str) -> tuple[Consumer, Producer]:
    """A manually committing consumer in `group_id` and an idempotent acks=all producer."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=10_000,
        heartbeat_interval_ms=1_000,
        max_poll_records=500,
    )
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        linger_ms=5,
        batch_size=256 * 1024,
    )
    return consumer, producer


@dataclass
class KafkaLoop:
    service: str
    source: Topic
    dead_letter_topic: str
    handler: Handler | None
    consumer: Consumer
    producer: Producer
    poll_timeout_ms: int = 500
    batch_handler: BatchHandler | None = None
    tick: Tick | None = None

    def __post_init__(self) -> None:
        if (self.handler is None) == (self.batch_handler is None):
            raise ValueError("give a handler or a batch_handler, not both")

    def process(self, inbound: Inbound) -> list[Outbound]:
        """Everything to produce for one record; bad input becomes one dead-letter record."""
        assert self.handler is not None, "per-record processing needs a handler"
        try:
            return list(self.handler(self._receive(inbound), inbound))
        except (DecodeError, RecordRejected) as error:
            return [self._reject(inbound, error.reason, str(error))]

    def process_batch(self, inbounds: list[Inbound]) -> list[Outbound]:
        """Everything to produce for a batch, through the batch handler if there is one."""
        if self.batch_handler is None:
            return [out for inbound in inbounds for out in self.process(inbound)]
        outbound: list[Outbound] = []
        decoded: list[tuple[Envelope, Inbound]] = []
        for inbound in inbounds:
            try:
                decoded.append((self._receive(inbound), inbound))
            except DecodeError as error:
                outbound.append(self._reject(inbound, error.reason, str(error)))
        return [*outbound, *self.batch_handler(decoded)] if decoded else outbound

    def _receive(self, inbound: Inbound) -> Envelope:
        """Log context and count for the record, then decode it (raises DecodeError)."""
        bind_record(inbound.topic, inbound.partition, inbound.offset, inbound.key_text)
        metrics.RECORDS_CONSUMED.labels(self.service, inbound.topic).inc()
        return decode(inbound.record, self.source.event_types)

    def run_once(self) -> int:
        """Process one polled batch end to end; return how many records it held."""
        batch = self.consumer.poll(timeout_ms=self.poll_timeout_ms)
        inbounds = [_inbound(record) for records in batch.values() for record in records]
        offsets = {
            partition: OffsetAndMetadata(records[-1].offset + 1, "", -1)
            for partition, records in batch.items()
            if records
        }
        outbound = self.process_batch(inbounds)
        unbind_record()
        if self.tick is not None:
            outbound.extend(self.tick())
        if outbound or offsets:
            self._deliver(outbound)
        if offsets:
            self._commit(offsets)
        return sum(len(records) for records in batch.values())

    def run(self, stop: threading.Event) -> None:
        log = get_logger()
        log.info("consumer_started", source=self.source.name)
        try:
            while not stop.is_set():
                self.run_once()
        finally:
            self.consumer.close()
            self.producer.close(timeout=10)
            log.info("consumer_stopped", source=self.source.name)

    def _commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        """Commit, unless the group moved these partitions to another member meanwhile: then
        that member gets the batch again (at least once; deliveries downstream are idempotent)
        and this one carries on with what it is assigned now."""
        try:
            self.consumer.commit(offsets)
        except _REBALANCED as error:
            get_logger().warning(
                "commit_skipped_after_rebalance",
                partitions=len(offsets),
                error=type(error).__name__,
            )

    def _deliver(self, outbound: list[Outbound]) -> None:
        futures = [
            self.producer.send(
                out.topic,
                value=out.record.value,
                key=out.record.key,
                headers=list(out.record.headers),
            )
            for out in outbound
        ]
        self.producer.flush()
        failed = [f.exception for f in futures if f.failed()]
        if failed:
            raise DeliveryFailed(
                f"{len(failed)} of {len(futures)} records not acknowledged: {failed[0]}"
            )

    def _reject(self, inbound: Inbound, reason: str, error: str) -> Outbound:
        metrics.DEAD_LETTERED.labels(self.service, reason).inc()
        get_logger().warning("dead_lettered", reason=reason, error=error)
        return dead_letter(inbound, reason, error, self.dead_letter_topic, self.service)


def _inbound(record: Any) -> Inbound:
    headers = tuple((name, value or b"") for name, value in record.headers or ())
    return Inbound(
        record.topic, record.partition, record.offset, WireRecord(record.key, record.value, headers)
    )
