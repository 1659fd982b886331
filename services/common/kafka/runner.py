"""The consume -> decode -> handle -> produce -> commit loop, written once for both services.

Per batch, in this order:
1. poll a batch of records;
2. decode each (CloudEvents binary mode + pydantic); an invalid record is dead-lettered;
3. call the handler, which returns the records to produce; `RecordRejected` dead-letters;
   an output over the producer's limit dead-letters its input (`output_too_large`);
4. send everything, then `flush()` and check that every send was acknowledged (acks=all);
5. only then commit the offsets of the batch.
A transactional loop (the eligibility service) does 4 and 5 in one Kafka transaction instead:
the records and the batch's offsets commit together or not at all (exactly once for readers
with `isolation_level=read_committed`), and the handler's local state follows the outcome.
Any other error in a handler is retried with backoff a few times, then the record is
dead-lettered (`handler_failed`, with the exception type), so one record can never stop the
service. A transport error (Kafka, and what a service declares, such as its database)
abandons the batch *without* committing: the consumer is rewound to the batch's first
offsets and the loop tries again after a pause, so an outage never ends the process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import (
    CommitFailedError,
    FencedInstanceIdError,
    IllegalGenerationError,
    InvalidProducerEpochError,
    KafkaError,
    ProducerFencedError,
    RebalanceInProgressError,
    TransactionalIdAuthorizationFailedError,
    UnknownMemberIdError,
)
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from rarematch.common import metrics
from rarematch.common.contracts.cloudevents import DecodeError, Envelope, WireRecord, decode
from rarematch.common.health import Health
from rarematch.common.kafka.dead_letter import dead_letter
from rarematch.common.kafka.records import Inbound, Outbound, RecordRejected
from rarematch.common.kafka.sizing import MAX_RECORD_BYTES, record_bytes
from rarematch.common.kafka.topics import Topic
from rarematch.common.logging import bind_record, get_logger, unbind_record

__all__ = [
    "RECONNECT",
    "DeliveryFailed",
    "Handler",
    "KafkaLoop",
    "Transaction",
    "broker_connected",
    "connect",
]

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
T = TypeVar("T")

_FENCED = (
    FencedInstanceIdError,
    ProducerFencedError,
    InvalidProducerEpochError,
    TransactionalIdAuthorizationFailedError,
)
"""Another process holds this instance's identity (or it may not use it): stop, never retry."""


class DeliveryFailed(RuntimeError):
    """A produced record was not acknowledged; the batch is not committed."""


class Consumer(Protocol):
    def poll(
        self, timeout_ms: int = ..., max_records: int | None = ...
    ) -> dict[Any, list[Any]]: ...
    def commit(self, offsets: dict[Any, Any] | None = ...) -> None: ...
    def seek(self, partition: Any, offset: int) -> None: ...
    def close(self) -> None: ...


class Producer(Protocol):
    def send(
        self,
        topic: str,
        value: bytes | None = ...,
        key: bytes | None = ...,
        headers: Any = ...,
        partition: int | None = ...,
    ) -> Any: ...
    def flush(self, timeout: float | None = ...) -> None: ...
    def close(self, timeout: float | None = ...) -> None: ...


RECONNECT = {
    "reconnect_backoff_ms": 100,
    "reconnect_backoff_max_ms": 1_000,
    "retry_backoff_ms": 100,
}
"""kafka-python backs off reconnects exponentially up to 30 s by default, which left both
services idle for 29-54 s after a broker came back; at most 1 s between attempts instead."""

TRANSACTIONAL_RETRY_BACKOFF_MS = 10
"""A transaction's first send or offsets often meet CONCURRENT_TRANSACTIONS while the broker
still writes the previous one's markers; kafka-python then waits `retry_backoff_ms`. At 100 ms
that wait was the p95 of a batch's flush and put the case -> match p99 at about 260 ms at
50 cases/s; at 10 ms about 70 ms (bench/live.py latency, docs/benchmarks.md)."""


def connect(
    bootstrap: str,
    group_id: str,
    topic: str,
    client_id: str,
    group_instance_id: str | None = None,
    security: Mapping[str, Any] | None = None,
    *,
    transactional_id: str | None = None,
    listener: ConsumerRebalanceListener | None = None,
    isolation_level: str = "read_committed",
) -> tuple[Consumer, Producer]:
    """A manually committing consumer in `group_id` and an idempotent acks=all producer.

    With `group_instance_id` the consumer is a static member (KIP-345): a restart under the
    same id takes its partitions back at once, without waiting for a rebalance.
    `security`: the clients' `client_security(settings)` (TLS, SASL); none is PLAINTEXT.
    With `transactional_id` the producer is transactional and initialised (which fences and
    aborts what an earlier process under the same id left open); `listener` hears about
    partitions assigned and revoked. Consumers read committed records only by default.
    """
    secure = dict(security or {})
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level=isolation_level,
        group_id=group_id,
        group_instance_id=group_instance_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=10_000,
        heartbeat_interval_ms=1_000,
        request_timeout_ms=15_000,
        max_poll_records=500,
        **RECONNECT,
        **secure,
    )
    consumer.subscribe([topic], listener=listener)
    backoff = (
        {} if transactional_id is None else {"retry_backoff_ms": TRANSACTIONAL_RETRY_BACKOFF_MS}
    )
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        transactional_id=transactional_id,
        compression_type="zstd",
        linger_ms=5,
        batch_size=256 * 1024,
        max_request_size=MAX_RECORD_BYTES,
        request_timeout_ms=10_000,
        **{**RECONNECT, **backoff},
        **secure,
    )
    if transactional_id is not None:
        producer.init_transactions()
    return consumer, producer


def broker_connected(consumer: Consumer) -> bool | None:
    """Whether the consumer holds any broker connection (None: it cannot say, e.g. a fake)."""
    metrics_of = getattr(consumer, "metrics", None)
    if metrics_of is None:
        return None
    count = metrics_of().get("consumer-metrics", {}).get("connection-count")
    return None if count is None else count > 0


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
    transport_errors: tuple[type[BaseException], ...] = (KafkaError,)
    """Errors of the service's connections: the batch is abandoned uncommitted and polled again."""
    handler_attempts: int = 3
    retry_base_delay_s: float = 0.1
    retry_max_delay_s: float = 2.0
    health: Health = field(default_factory=Health)
    connection_check_s: float = 0.5
    abandoned_pause_max_s: float = 1.0
    transaction: Transaction | None = None
    """Set: records and offsets commit in one Kafka transaction, reported to its hooks."""
    _connection: _Connection = field(default_factory=lambda: _Connection())
    _batch_start: dict[Any, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.handler is None) == (self.batch_handler is None):
            raise ValueError("give a handler or a batch_handler, not both")

    def process(self, inbound: Inbound) -> list[Outbound]:
        """Everything to produce for one record; bad input becomes one dead-letter record."""
        handler = self.handler
        assert handler is not None, "per-record processing needs a handler"
        try:
            envelope = self._receive(inbound)
            outputs = self._retried(lambda: list(handler(envelope, inbound)))
        except (DecodeError, RecordRejected) as error:
            return [self._reject(inbound, error.reason, str(error))]
        except self.transport_errors:
            raise
        except Exception as error:  # retried and still failing: park it, serve the rest
            return [self._handler_failed(inbound, error)]
        return self._fitting(inbound, outputs)

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
        return [*outbound, *self._handle_batch(decoded)] if decoded else outbound

    def _handle_batch(self, decoded: list[tuple[Envelope, Inbound]]) -> list[Outbound]:
        """The batch handler on the whole batch; if it keeps failing, on each record alone,
        so only the records that fail by themselves are dead-lettered."""
        batch_handler = self.batch_handler
        assert batch_handler is not None

        def handle(part: list[tuple[Envelope, Inbound]]) -> list[Outbound]:
            return self._retried(lambda: list(batch_handler(part)))

        try:
            return handle(decoded)
        except self.transport_errors:
            raise
        except Exception as error:
            if len(decoded) == 1:
                return [self._handler_failed(decoded[0][1], error)]
        outbound: list[Outbound] = []
        for one in decoded:
            try:
                outbound.extend(handle([one]))
            except self.transport_errors:
                raise
            except Exception as error:
                outbound.append(self._handler_failed(one[1], error))
        return outbound

    def _retried(self, work: Callable[[], T]) -> T:
        """`work()`, again with backoff after an unexpected error; the last error is raised."""
        give_up: tuple[type[BaseException], ...] = (
            DecodeError,
            RecordRejected,
            *self.transport_errors,
        )
        retrying = Retrying(
            retry=retry_if_exception(lambda error: not isinstance(error, give_up)),
            stop=stop_after_attempt(self.handler_attempts),
            wait=wait_exponential(multiplier=self.retry_base_delay_s, max=self.retry_max_delay_s),
            before_sleep=lambda state: get_logger().warning(
                "handler_retry",
                attempt=state.attempt_number,
                error=type(state.outcome.exception()).__name__ if state.outcome else None,
            ),
            reraise=True,
        )
        return retrying(work)

    def _fitting(self, inbound: Inbound, outputs: list[Outbound]) -> list[Outbound]:
        """The outputs, unless one is over the producer's limit: then the input is parked."""
        for out in outputs:
            size = record_bytes(out.record)
            if size > MAX_RECORD_BYTES:
                return [
                    self._reject(
                        inbound,
                        "output_too_large",
                        f"a record for {out.topic} would be {size} bytes; the limit is "
                        f"{MAX_RECORD_BYTES}. Nothing was produced for this record",
                    )
                ]
        return outputs

    def _handler_failed(self, inbound: Inbound, error: Exception) -> Outbound:
        return self._reject(
            inbound,
            "handler_failed",
            f"{type(error).__name__} in {self.service}'s handler after "
            f"{self.handler_attempts} attempts; the record is kept here for a fix and replay",
            error_type=type(error).__name__,
        )

    def _receive(self, inbound: Inbound) -> Envelope:
        """Log context and count for the record, then decode it (raises DecodeError)."""
        bind_record(inbound.topic, inbound.partition, inbound.offset, inbound.case_id)
        metrics.RECORDS_CONSUMED.labels(self.service, inbound.topic).inc()
        return decode(inbound.record, self.source.event_types)

    def run_once(self) -> int:
        """Process one polled batch end to end; return how many records it held."""
        busy = self.transaction is not None and self.transaction.busy()
        batch = self.consumer.poll(timeout_ms=0 if busy else self.poll_timeout_ms)
        self._batch_start = {
            partition: records[0].offset for partition, records in batch.items() if records
        }
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
        if self.transaction is not None:
            self._transact(self.transaction, outbound, offsets)
        else:
            if outbound or offsets:
                self._deliver(outbound)
            if offsets:
                self._commit(offsets)
        self._batch_start = {}
        return sum(len(records) for records in batch.values())

    def run(self, stop: threading.Event) -> None:
        log = get_logger()
        log.info("consumer_started", source=self.source.name)
        failures = 0
        try:
            while not stop.is_set():
                try:
                    failures = self._run_once_or_abandon(failures, stop)
                except _FENCED as error:  # also when aborting an abandoned transaction
                    log.error(
                        "instance_fenced",
                        source=self.source.name,
                        error_type=type(error).__name__,
                        hint="another process joined the group under this instance id: "
                        f"give each its own RAREMATCH_{self.service.upper()}_INSTANCE_ID",
                    )
                    raise SystemExit(1) from None
                self.health.beat()
                self._watch_connection()
        finally:
            self.health.loop_ended()
            self.consumer.close()
            self.producer.close(timeout=10)
            log.info("consumer_stopped", source=self.source.name)

    def _run_once_or_abandon(self, failures: int, stop: threading.Event) -> int:
        """One batch; on a transport error it is abandoned and retried after a pause.
        Returns the count of consecutive failures."""
        abandon: tuple[type[BaseException], ...] = (*self.transport_errors, DeliveryFailed)
        try:
            self.run_once()
        except _FENCED:
            raise
        except abandon as error:
            failures += 1
            self._abandon_batch(error, failures)
            stop.wait(min(self.abandoned_pause_max_s, 0.1 * 2**failures))
            return failures
        return 0

    def _abandon_batch(self, error: BaseException, failures: int) -> None:
        """Rewind to the uncommitted batch so it is polled again (at least once, in order)."""
        unbind_record()
        if self.transaction is not None:
            self._abort(self.transaction)
        rewound = 0
        for partition, offset in self._batch_start.items():
            try:
                self.consumer.seek(partition, offset)
                rewound += 1
            except (KafkaError, AssertionError, ValueError):
                pass  # no longer ours: its new owner reads it from the last commit
        self._batch_start = {}
        metrics.BATCHES_ABANDONED.labels(self.service).inc()
        get_logger().warning(
            "batch_abandoned",
            source=self.source.name,
            error_type=type(error).__name__,
            consecutive=failures,
            partitions_rewound=rewound,
        )

    def _watch_connection(self) -> None:
        """Log and count when the broker connection is lost and when it is back."""
        now = time.monotonic()
        state = self._connection
        if now - state.checked_at < self.connection_check_s:
            return
        state.checked_at = now
        connected = broker_connected(self.consumer)
        if connected is None or connected == state.connected:
            return
        metrics.KAFKA_CONNECTED.labels(self.service).set(int(connected))
        self.health.connected = connected
        if not connected:
            state.lost_at = now
            metrics.KAFKA_DISCONNECTS.labels(self.service).inc()
            get_logger().warning("kafka_connection_lost", source=self.source.name)
        elif state.connected is False:
            outage = round(now - state.lost_at, 1)
            get_logger().info("kafka_connection_restored", source=self.source.name, outage_s=outage)
        state.connected = connected

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

    def _transact(
        self,
        transaction: Transaction,
        outbound: list[Outbound],
        offsets: dict[TopicPartition, OffsetAndMetadata],
    ) -> None:
        """Records and offsets in one transaction; then local state may take the writes."""
        if not outbound and not offsets:
            transaction.committed()
            return
        producer: Any = self.producer
        producer.begin_transaction()
        self._deliver(outbound)
        if offsets:
            group: Any = self.consumer
            producer.send_offsets_to_transaction(offsets, group.group_metadata())
        producer.commit_transaction()
        transaction.committed()

    def _abort(self, transaction: Transaction) -> None:
        transaction.abandoned()
        producer: Any = self.producer
        try:
            producer.abort_transaction()
        except _FENCED:
            raise
        except Exception as error:  # none open, or the broker is away: it times out there
            get_logger().debug("abort_skipped", error_type=type(error).__name__)

    def _deliver(self, outbound: list[Outbound]) -> None:
        futures = [
            self.producer.send(
                out.topic,
                value=out.record.value,
                key=out.record.key,
                headers=list(out.record.headers),
                partition=out.partition,
            )
            for out in outbound
        ]
        self.producer.flush()
        failed = [f.exception for f in futures if f.failed()]
        if failed:
            raise DeliveryFailed(
                f"{len(failed)} of {len(futures)} records not acknowledged: {failed[0]}"
            )

    def _reject(
        self, inbound: Inbound, reason: str, error: str, *, error_type: str | None = None
    ) -> Outbound:
        metrics.DEAD_LETTERED.labels(self.service, reason).inc()
        get_logger().warning("dead_lettered", reason=reason, error=error)
        extra = (("dlq_exception", error_type),) if error_type else ()
        return dead_letter(inbound, reason, error, self.dead_letter_topic, self.service, extra)


class Transaction(Protocol):
    """What a transactional handler is told, and asked, by the loop."""

    def committed(self) -> None:
        """The batch's records and offsets are committed: local state may take its writes."""

    def abandoned(self) -> None:
        """The batch was aborted: forget its writes, it will be handled again."""

    def busy(self) -> bool:
        """Whether work is waiting between batches (the loop then polls without waiting)."""


@dataclass
class _Connection:
    connected: bool | None = None
    checked_at: float = 0.0
    lost_at: float = 0.0


def _inbound(record: Any) -> Inbound:
    headers = tuple((name, value or b"") for name, value in record.headers or ())
    return Inbound(
        record.topic, record.partition, record.offset, WireRecord(record.key, record.value, headers)
    )
