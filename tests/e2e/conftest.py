"""Both services in-process on the real broker, each test on its own topics and groups."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from rarematch.common.kafka.runner import KafkaLoop
from rarematch.common.settings import EligibilitySettings, NotifierSettings
from rarematch.eligibility.bootstrap import bootstrap as bootstrap_eligibility
from rarematch.mailcatcher import MailCatcher, catch_mail
from rarematch.notifier.bootstrap import bootstrap as bootstrap_notifier

RULES = Path(__file__).resolve().parents[2] / "rules"
CASES = Path(__file__).resolve().parents[2] / "examples" / "cases"


@dataclass(frozen=True)
class Stack:
    eligibility: EligibilitySettings
    notifier: NotifierSettings
    mail: MailCatcher

    @property
    def bootstrap(self) -> str:
        return self.eligibility.kafka_bootstrap


def stack_settings(
    client: dict[str, Any], mail: MailCatcher, tmp_path: Path, prefix: str = "t"
) -> tuple[EligibilitySettings, NotifierSettings]:
    """Settings of both services on topics and groups of their own; `client`: how to connect."""
    run = f"{prefix}{uuid.uuid4().hex[:8]}"
    common = {
        **client,
        "cases_topic": f"{run}.cases",
        "case_state_topic": f"{run}.case-state",
        "decision_state_topic": f"{run}.decision-state",
        "matches_topic": f"{run}.matches",
        "cases_dead_letter_topic": f"{run}.cases.DLT",
        "matches_dead_letter_topic": f"{run}.matches.DLT",
        "rules_dir": RULES,
    }
    eligibility = EligibilitySettings(**common, eligibility_group=f"elig-{run}")
    notifier = NotifierSettings(
        **common,
        notifier_group=f"notif-{run}",
        smtp_host="127.0.0.1",
        smtp_port=mail.port,
        notifier_store_path=tmp_path / "notifier.sqlite3",
        notifications_dead_letter_topic=f"{run}.notifications.DLT",
    )
    return eligibility, notifier


@pytest.fixture
def mail() -> Iterator[MailCatcher]:
    with catch_mail() as catcher:
        yield catcher


@pytest.fixture
def stack(kafka_bootstrap: str, mail: MailCatcher, tmp_path: Path) -> Iterator[Stack]:
    """Eligibility and notifier running on fresh topics until the test ends."""
    eligibility, notifier = stack_settings({"kafka_bootstrap": kafka_bootstrap}, mail, tmp_path)
    loop, _ = bootstrap_eligibility(eligibility)
    with running(loop), running(bootstrap_notifier(notifier)[0]):
        yield Stack(eligibility, notifier, mail)


@contextmanager
def running(loop: KafkaLoop) -> Iterator[None]:
    stop = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            loop.run(stop)
        except BaseException as error:  # surfaced in the test below, not lost in a thread
            failure.append(error)

    thread = threading.Thread(target=run, name=loop.service, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not failure, f"{loop.service} loop failed: {failure[0]!r}"


def read_topic(
    bootstrap: str,
    topic: str,
    until: Callable[[list[object]], bool],
    timeout_s: float = 60.0,
) -> list[object]:
    """Every record of `topic` from the start, polled until `until(records)` or the timeout."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed"
    )
    records: list[object] = []
    try:
        deadline = time.monotonic() + timeout_s
        assigned = False
        while time.monotonic() < deadline:
            if not assigned:
                partitions = consumer.partitions_for_topic(topic)
                if not partitions:
                    time.sleep(0.2)
                    continue
                consumer.assign([TopicPartition(topic, p) for p in partitions])
                consumer.seek_to_beginning()
                assigned = True
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
            if until(records):
                break
    finally:
        consumer.close()
    return records
