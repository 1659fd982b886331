"""The loop's ordering and failure rules, with an in-memory consumer and producer."""

from __future__ import annotations

import hashlib
import threading
from collections import namedtuple
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.errors import CommitFailedError, FencedInstanceIdError, KafkaTimeoutError

from rarematch.common.contracts import CASE_SUBMITTED, MATCH_DECIDED
from rarematch.common.contracts.cloudevents import WireRecord
from rarematch.common.kafka.records import Outbound
from rarematch.common.kafka.runner import DeliveryFailed, KafkaLoop
from rarematch.common.kafka.sizing import MAX_RECORD_BYTES, record_bytes
from rarematch.common.kafka.topics import Topic
from tests.builders import make_case, wire_case

Record = namedtuple("Record", "topic partition offset key value headers")


class FakeFuture:
    def __init__(self, error: Exception | None) -> None:
        self.exception = error

    def failed(self) -> bool:
        return self.exception is not None


class FakeProducer:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, bytes | None]] = []
        self.records: list[tuple[str, WireRecord]] = []
        self.flushed = 0
        self._fail = fail

    def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: Any = None,
        headers: Any = None,
        partition: int | None = None,
    ):
        self.sent.append((topic, value))
        self.records.append((topic, WireRecord(key, value, tuple(headers or ()))))
        return FakeFuture(RuntimeError("not acknowledged") if self._fail else None)

    def flush(self, timeout: float | None = None) -> None:
        self.flushed += 1

    def close(self, timeout: float | None = None) -> None:
        pass


class FakeConsumer:
    def __init__(self, batch: dict[Any, list[Any]], commit_error: Exception | None = None):
        self.batch = batch
        self.committed: list[dict[Any, Any]] = []
        self._commit_error = commit_error

        self.polled: dict[Any, list[Any]] = {}
        self.seeks: list[tuple[Any, int]] = []

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, list[Any]]:
        batch, self.batch = self.batch, {}
        for partition, records in batch.items():
            self.polled.setdefault(partition, []).extend(records)
        return batch

    def seek(self, partition: Any, offset: int) -> None:
        """Like KafkaConsumer.seek: the next poll starts at `offset`."""
        self.seeks.append((partition, offset))
        seen = {r.offset: r for r in self.polled.get(partition, [])}
        self.batch[partition] = [seen[n] for n in sorted(seen) if n >= offset]

    def commit(self, offsets: dict[Any, Any] | None = None) -> None:
        if self._commit_error:
            raise self._commit_error
        self.committed.append(offsets or {})

    def close(self) -> None:
        pass


PARTITION = TopicPartition("in", 0)


def loop(consumer: FakeConsumer, producer: FakeProducer) -> KafkaLoop:
    def echo(envelope: Any, inbound: Any) -> list[Outbound]:
        return []

    return KafkaLoop("test", Topic("in", frozenset({"t"})), "in.DLT", echo, consumer, producer)


def bad_records(count: int) -> dict[Any, list[Any]]:
    return {PARTITION: [Record("in", 0, n, b"k", b"not json", []) for n in range(count)]}


def test_offsets_are_committed_after_the_dead_letters_are_flushed() -> None:
    consumer, producer = FakeConsumer(bad_records(3)), FakeProducer()
    assert loop(consumer, producer).run_once() == 3
    assert [topic for topic, _ in producer.sent] == ["in.DLT"] * 3
    assert producer.flushed == 1
    [offsets] = consumer.committed
    assert offsets[PARTITION].offset == 3


def test_nothing_is_committed_when_a_send_is_not_acknowledged() -> None:
    consumer, producer = FakeConsumer(bad_records(2)), FakeProducer(fail=True)
    with pytest.raises(DeliveryFailed):
        loop(consumer, producer).run_once()
    assert consumer.committed == []


def test_a_commit_lost_to_a_rebalance_does_not_stop_the_loop() -> None:
    consumer = FakeConsumer(bad_records(1), commit_error=CommitFailedError("rebalanced"))
    producer = FakeProducer()
    assert loop(consumer, producer).run_once() == 1
    assert loop(consumer, producer).run_once() == 0


# --- one record can never stop the loop ---------------------------------------------------


def case_records(count: int) -> dict[Any, list[Any]]:
    records = [wire_case(make_case(case_id=f"case-{n}")) for n in range(count)]
    return {
        PARTITION: [
            Record("in", 0, n, r.key, r.value, list(r.headers)) for n, r in enumerate(records)
        ]
    }


def case_loop(consumer: FakeConsumer, producer: FakeProducer, handler: Any, **kw: Any) -> KafkaLoop:
    source = Topic("in", frozenset({CASE_SUBMITTED}))
    return KafkaLoop(
        "test", source, "in.DLT", handler, consumer, producer, retry_base_delay_s=0, **kw
    )


def headers_of(record: WireRecord) -> dict[str, bytes]:
    return dict(record.headers)


def out(topic: str, size: int) -> Outbound:
    return Outbound(topic, WireRecord(b"k", b"x" * size, (("ce_type", MATCH_DECIDED.encode()),)))


def test_a_handler_that_keeps_failing_dead_letters_the_record_and_the_loop_goes_on() -> None:
    attempts: list[str] = []

    def broken(envelope: Any, inbound: Any) -> list[Outbound]:
        attempts.append(inbound.key_text)
        if inbound.offset == 1:
            raise ZeroDivisionError("a bug")
        return [out("matches", 10)]

    consumer, producer = FakeConsumer(case_records(3)), FakeProducer()
    assert case_loop(consumer, producer, broken, handler_attempts=4).run_once() == 3
    assert attempts.count("case-1") == 4
    assert [topic for topic, _ in producer.records] == ["matches", "in.DLT", "matches"]
    dead = headers_of(producer.records[1][1])
    assert dead["dlq_reason"] == b"handler_failed"
    assert dead["dlq_exception"] == b"ZeroDivisionError"
    assert b"a bug" not in dead["dlq_error"]  # an exception's message may quote case content
    [offsets] = consumer.committed
    assert offsets[PARTITION].offset == 3


def test_a_handler_that_fails_once_is_retried_and_its_output_produced() -> None:
    calls = 0

    def flaky(envelope: Any, inbound: Any) -> list[Outbound]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionResetError("blip")
        return [out("matches", 10)]

    consumer, producer = FakeConsumer(case_records(1)), FakeProducer()
    case_loop(consumer, producer, flaky).run_once()
    assert [topic for topic, _ in producer.records] == ["matches"]


def test_a_transport_error_stops_the_loop_uncommitted() -> None:
    def broker_gone(envelope: Any, inbound: Any) -> list[Outbound]:
        raise KafkaTimeoutError("no broker")

    consumer, producer = FakeConsumer(case_records(2)), FakeProducer()
    with pytest.raises(KafkaTimeoutError):
        case_loop(consumer, producer, broker_gone).run_once()
    assert consumer.committed == []
    assert producer.records == []


class FlakyProducer(FakeProducer):
    """Refuses the first `failures` flushes (a broker outage), then acknowledges."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: Any = None,
        headers: Any = None,
        partition: int | None = None,
    ):
        self.sent.append((topic, value))
        self.records.append((topic, WireRecord(key, value, tuple(headers or ()))))
        down = self.failures > 0
        return FakeFuture(KafkaTimeoutError("broker down") if down else None)

    def flush(self, timeout: float | None = None) -> None:
        super().flush(timeout)
        self.failures -= 1


def test_an_outage_abandons_the_batch_uncommitted_and_the_loop_polls_it_again() -> None:
    consumer, producer = FakeConsumer(bad_records(3)), FlakyProducer(failures=2)
    kafka_loop = loop(consumer, producer)
    kafka_loop.abandoned_pause_max_s = 0
    stop = threading.Event()

    def poll_until_committed(timeout_ms: int = 0, max_records: int | None = None) -> Any:
        if consumer.committed:
            stop.set()
        return FakeConsumer.poll(consumer, timeout_ms, max_records)

    consumer.poll = poll_until_committed  # type: ignore[method-assign]
    kafka_loop.run(stop)
    assert consumer.seeks == [(PARTITION, 0), (PARTITION, 0)]
    [offsets] = consumer.committed
    assert offsets[PARTITION].offset == 3
    assert [topic for topic, _ in producer.sent] == ["in.DLT"] * 9


def test_an_instance_fenced_by_a_second_process_with_its_id_exits_instead_of_retrying() -> None:
    consumer = FakeConsumer({})

    def fenced(timeout_ms: int = 0, max_records: int | None = None) -> Any:
        raise FencedInstanceIdError("fenced")

    consumer.poll = fenced  # type: ignore[method-assign]
    with pytest.raises(SystemExit) as exit_info:
        loop(consumer, FakeProducer()).run(threading.Event())
    assert exit_info.value.code == 1


def test_an_output_over_the_limit_dead_letters_its_input_and_produces_nothing_for_it() -> None:
    def huge(envelope: Any, inbound: Any) -> list[Outbound]:
        return [out("matches", 10), out("matches", MAX_RECORD_BYTES)]

    consumer, producer = FakeConsumer(case_records(1)), FakeProducer()
    case_loop(consumer, producer, huge).run_once()
    [(topic, dead)] = producer.records
    assert topic == "in.DLT"
    assert headers_of(dead)["dlq_reason"] == b"output_too_large"
    assert consumer.committed


def test_a_batch_handler_failing_on_one_record_dead_letters_only_that_record() -> None:
    def batch(decoded: list[Any]) -> list[Outbound]:
        if any(inbound.offset == 2 for _, inbound in decoded):
            raise KeyError("bad record")
        return [out("notes", 10) for _ in decoded]

    consumer, producer = FakeConsumer(case_records(4)), FakeProducer()
    source = Topic("in", frozenset({CASE_SUBMITTED}))
    looped = KafkaLoop(
        "test", source, "in.DLT", None, consumer, producer, batch_handler=batch,
        retry_base_delay_s=0,
    )  # fmt: skip
    looped.run_once()
    assert sorted(topic for topic, _ in producer.records) == ["in.DLT", "notes", "notes", "notes"]
    [dead] = [record for topic, record in producer.records if topic == "in.DLT"]
    assert headers_of(dead)["dlq_offset"] == b"2"
    assert headers_of(dead)["dlq_exception"] == b"KeyError"


def test_a_dead_letter_of_a_record_near_the_limit_fits_and_says_what_was_cut() -> None:
    value = b"{" + b"x" * (MAX_RECORD_BYTES - 200)
    consumer = FakeConsumer(
        {PARTITION: [Record("in", 0, 0, b"case-1", value, [("ce_id", b"i" * 300)])]}
    )
    producer = FakeProducer()
    loop(consumer, producer).run_once()
    [(topic, dead)] = producer.records
    assert topic == "in.DLT"
    assert record_bytes(dead) <= MAX_RECORD_BYTES
    headers = headers_of(dead)
    assert headers["dlq_truncated"] == b"true"
    assert int(headers["dlq_original_bytes"]) > MAX_RECORD_BYTES - 200
    assert headers["dlq_original_sha256"] == hashlib.sha256(value).hexdigest().encode()
    assert (headers["dlq_topic"], headers["dlq_offset"]) == (b"in", b"0")
    assert value.startswith(dead.value or b"-")
    assert len(dead.value or b"") > MAX_RECORD_BYTES // 2


def test_a_record_whose_headers_alone_exceed_the_limit_is_dead_lettered_without_them() -> None:
    headers = [(f"h{n}", b"v" * 60_000) for n in range(20)]
    consumer = FakeConsumer({PARTITION: [Record("in", 0, 0, b"case-1", b"{}", headers)]})
    producer = FakeProducer()
    loop(consumer, producer).run_once()
    [(_, dead)] = producer.records
    assert record_bytes(dead) <= MAX_RECORD_BYTES
    assert not any(name.startswith("h") for name, _ in dead.headers)
    assert headers_of(dead)["dlq_truncated"] == b"true"
