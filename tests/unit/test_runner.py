"""The loop's ordering and failure rules, with an in-memory consumer and producer."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.errors import CommitFailedError

from rarematch.common.kafka.records import Outbound
from rarematch.common.kafka.runner import DeliveryFailed, KafkaLoop
from rarematch.common.kafka.topics import Topic

Record = namedtuple("Record", "topic partition offset key value headers")


class FakeFuture:
    def __init__(self, error: Exception | None) -> None:
        self.exception = error

    def failed(self) -> bool:
        return self.exception is not None


class FakeProducer:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, bytes | None]] = []
        self.flushed = 0
        self._fail = fail

    def send(self, topic: str, value: bytes | None = None, key: Any = None, headers: Any = None):
        self.sent.append((topic, value))
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

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, list[Any]]:
        batch, self.batch = self.batch, {}
        return batch

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
