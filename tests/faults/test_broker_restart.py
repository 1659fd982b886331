"""The broker stopped and started twice while cases stream through both services: no decision
and no alert lost, none sent twice, and both services back at work within seconds."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaProducer

from rarematch.common.contracts import CASE_SUBMITTED, Case, MatchDecided
from rarematch.common.contracts.cloudevents import encode
from rarematch.common.kafka.runner import RECONNECT
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from rarematch.localkafka import BrokerConfig, down, up
from rarematch.mailcatcher import catch_mail
from rarematch.notifier.adapters.routing_file import load_routing
from rarematch.notifier.adapters.smtp_channel import message_id_header
from rarematch.notifier.domain.delivery import deliveries_for
from rarematch.notifier.domain.routing import Routing
from rarematch.ports import free_ports
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
from tests.faults.test_eligibility_kills import expected_decisions, stream
from tests.synthetic import synthetic_cases

RULES = REPO / "rules"
SEED = 11
PROBE_SAMPLE = REPO / "examples" / "cases" / "sarcoma-synovial-hla-a0201.json"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerConfig]:
    port, controller = free_ports(2)
    config = BrokerConfig(port=port, controller_port=controller, state_dir=tmp_path / "broker")
    up(config, say=lambda m: print(f"[faults-broker] {m}"))
    try:
        yield config
    finally:
        down(config, say=lambda m: print(f"[faults-broker] {m}"))


def probe_case(index: int) -> Case:
    """A sample case that matches, under a case id of its own: sent just after a restart."""
    body = json.loads(PROBE_SAMPLE.read_text())
    return Case.model_validate({**body, "case_id": f"case-probe-{index}"})


def email_ids(decisions: list[MatchDecided], routing: Routing) -> set[str]:
    """The Message-IDs of the emails `decisions` must produce."""
    return {
        message_id_header(d.message_id)
        for decision in decisions
        for d in deliveries_for(decision, routing)
        if d.channel == "email"
    }


def send_now(bootstrap: str, topic: str, case: Case) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", **RECONNECT)
    record = encode(CASE_SUBMITTED, case, key=case.case_id, source="/faults")
    producer.send(topic, key=record.key, value=record.value, headers=list(record.headers))
    producer.flush(timeout=30)
    producer.close()


def seconds_until(condition: Callable[[], bool], since: float, what: str) -> float:
    wait_until(condition, 90, what)
    return time.monotonic() - since


def test_broker_restarts_lose_no_decision_and_no_alert(
    broker: BrokerConfig, tmp_path: Path, reliability: list[Row]
) -> None:
    count, restarts = sized(ci=150, full=1000), sized(ci=2, full=3)
    cases = synthetic_cases(count, random.Random(SEED), bundled_oncotree())
    records = [encode(CASE_SUBMITTED, c, key=c.case_id, source="/faults") for c in cases]
    probes = [probe_case(index) for index in range(restarts)]
    now = datetime.now(UTC)
    decisions = expected_decisions([*cases, *probes], now)
    routing = load_routing(RULES)
    alerts = email_ids(decisions, routing)
    probe_alerts = [
        email_ids([d for d in decisions if d.case_id == p.case_id], routing) for p in probes
    ]
    assert all(probe_alerts), "every probe case must be alerted by email"
    expected = {(d.case_id, d.program_id) for d in decisions}
    bootstrap = broker.bootstrap
    stack = Stack(bootstrap, uuid.uuid4().hex[:8])
    with catch_mail() as mail:
        stack.create_topics()
        env = stack.env(
            RULES,
            RAREMATCH_SMTP_PORT=str(mail.port),
            RAREMATCH_NOTIFIER_STORE_PATH=str(tmp_path / "notifier.sqlite3"),
        )
        eligibility = ServiceProcess("eligibility", env, tmp_path / "eligibility.log")
        notifier = ServiceProcess("notifier", env, tmp_path / "notifier.log")
        groups = (stack.eligibility_group, stack.notifier_group)
        eligibility.start()
        notifier.start()
        producer = threading.Thread(
            target=stream,
            args=(bootstrap, stack.cases, records, sized(ci=25, full=90)),
            daemon=True,
        )
        producer.start()
        recover: list[float] = []
        try:
            wait_until(lambda: committed(bootstrap, groups[1]) > 0, 90, "the first alerts")
            for index in range(restarts):
                time.sleep(3)
                down(broker, say=print)
                time.sleep(3)
                up(broker, say=print)
                ready = time.monotonic()
                send_now(bootstrap, stack.cases, probes[index])
                recover.append(
                    seconds_until(
                        lambda ids=probe_alerts[index]: (
                            ids <= {m["Message-ID"] for m in mail.messages}
                        ),  # type: ignore[misc]
                        ready,
                        "the alert of a case sent after the restart",
                    )
                )
            producer.join(timeout=300)
            wait_until(
                lambda: committed(bootstrap, groups[0]) >= count + restarts, 180, "every case"
            )
            wait_until(
                lambda: len({m["Message-ID"] for m in mail.messages}) >= len(alerts), 180, "alerts"
            )
            time.sleep(2)  # a late duplicate would arrive now
            eligibility.check_alive()
            notifier.check_alive()
        finally:
            eligibility.stop()
            notifier.stop()
        received_ids = [m["Message-ID"] for m in mail.messages]
    decided = decisions_published(bootstrap, stack.matches, len(expected))
    published = set(decided)
    reliability.append(
        Row(
            "both services: broker stopped and started",
            sent=count + restarts,
            expected=len(expected),
            received=len(published),
            lost=len(expected - published),
            duplicated=len(decided) - len(published),
            crashes=eligibility.self_exits + notifier.self_exits,
            recover_s=recover,
            note=(
                f"{restarts} restarts of 3 s; decisions (match events) by case and program; "
                "recovery: broker ready to the email of a case sent just then"
            ),
        )
    )
    reliability.append(
        Row(
            "both services: broker stopped and started (alerts)",
            sent=len(expected),
            expected=len(alerts),
            received=len(set(received_ids)),
            lost=len(alerts - set(received_ids)),
            duplicated=len(received_ids) - len(set(received_ids)),
            crashes=eligibility.self_exits + notifier.self_exits,
            note="emails at a real SMTP receiver, by Message-ID",
        )
    )
    assert expected - published == set()
    assert alerts - set(received_ids) == set()
    assert len(received_ids) == len(set(received_ids)), "an alert was sent twice"
    assert eligibility.self_exits == notifier.self_exits == 0
