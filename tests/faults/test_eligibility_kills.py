"""kill -9 of the eligibility service at random moments while cases stream in: every decision
is published exactly once on the committed matches topic (consume, state and match events
commit in one transaction), and each restart is back at work within seconds."""

from __future__ import annotations

import contextlib
import random
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from kafka import KafkaProducer

from rarematch.common.contracts import CASE_SUBMITTED, Case, MatchDecided
from rarematch.common.contracts.cloudevents import WireRecord, encode
from rarematch.common.kafka.records import RecordRejected
from rarematch.common.kafka.runner import RECONNECT
from rarematch.eligibility.domain.engine import EngineError
from rarematch.eligibility.domain.evaluate import publishable_decisions
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from rarematch.eligibility.handlers import reject_unknown_codes
from rarematch.eligibility.rulebook.store import load_rules
from tests.faults.harness import (
    REPO,
    Row,
    ServiceProcess,
    Stack,
    committed,
    decisions_published,
    sized,
    wait_until,
)
from tests.synthetic import synthetic_cases

RULES = REPO / "rules"
SEED = 2026


def expected_decisions(cases: list[Case], now: datetime) -> list[MatchDecided]:
    """What the service must publish for `cases`: the same code, in this process."""
    rules = load_rules(RULES, bundled_oncotree())
    decisions: list[MatchDecided] = []
    try:
        for case in cases:
            with contextlib.suppress(RecordRejected, EngineError):  # dead-lettered there too
                reject_unknown_codes(case, rules)
                decisions += publishable_decisions(case, rules, now)
    finally:
        rules.engine.close()
    return decisions


def stream(bootstrap: str, topic: str, records: list[WireRecord], seconds: float) -> None:
    # The intake's producer reconnects as promptly as ours, so input resumes with the broker.
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, **RECONNECT)
    pause = seconds / len(records)
    for record in records:
        producer.send(topic, key=record.key, value=record.value, headers=list(record.headers))
        time.sleep(pause)
    producer.flush()
    producer.close()


def test_eligibility_killed_during_a_stream_publishes_each_decision_exactly_once(
    kafka_bootstrap: str, tmp_path: Path, reliability: list[Row]
) -> None:
    count, kills = sized(ci=400, full=2000), sized(ci=5, full=8)
    rng = random.Random(SEED)
    cases = synthetic_cases(count, random.Random(SEED), bundled_oncotree())
    records = [encode(CASE_SUBMITTED, c, key=c.case_id, source="/faults") for c in cases]
    expected = {(d.case_id, d.program_id) for d in expected_decisions(cases, datetime.now(UTC))}
    stack = Stack(kafka_bootstrap, uuid.uuid4().hex[:8])
    stack.create_topics()
    env = stack.env(RULES)
    service = ServiceProcess("eligibility", env, tmp_path / "eligibility.log")
    service.start()
    producer = threading.Thread(
        target=stream,
        args=(kafka_bootstrap, stack.cases, records, sized(ci=20, full=60)),
        daemon=True,
    )
    producer.start()
    recover: list[float] = []
    try:
        group = stack.eligibility_group
        wait_until(lambda: committed(kafka_bootstrap, group) > 0, 60, "the first commit")
        for _ in range(kills):
            time.sleep(rng.uniform(0.5, 2.5))
            service.kill()
            before = committed(kafka_bootstrap, group)
            restarted = time.monotonic()
            service.start()
            if before < count:  # time until the restarted process commits again
                wait_until(
                    lambda b=before: committed(kafka_bootstrap, group) > b,  # type: ignore[misc]
                    90,
                    "progress after a restart",
                )
                recover.append(time.monotonic() - restarted)
        producer.join(timeout=300)
        wait_until(lambda: committed(kafka_bootstrap, group) >= count, 180, "every case committed")
        service.check_alive()
    finally:
        service.stop()

    published = decisions_published(kafka_bootstrap, stack.matches, len(expected))
    distinct = set(published)
    reliability.append(
        Row(
            "eligibility: kill -9 during a stream",
            sent=count,
            expected=len(expected),
            received=len(distinct),
            lost=len(expected - distinct),
            duplicated=len(published) - len(distinct),
            crashes=service.self_exits,
            recover_s=recover,
            note=f"{kills} kills; matches read committed (transactions)",
        )
    )
    assert expected - distinct == set(), "decisions lost"
    assert distinct - expected == set(), "decisions nobody expected"
    assert len(published) == len(distinct), "a decision committed twice"
    assert service.self_exits == 0
