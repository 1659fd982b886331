"""A broker restart: both services say the connection was lost and regained, and work again
within 5 s of the broker being ready (their own broker: the session broker is not stopped)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog.testing

from rarematch.eligibility.bootstrap import bootstrap as bootstrap_eligibility
from rarematch.localkafka import BrokerConfig, down, up
from rarematch.mailcatcher import MailCatcher
from rarematch.notifier.bootstrap import bootstrap as bootstrap_notifier
from rarematch.ports import free_ports
from rarematch.publish import publish_cases
from tests.e2e.conftest import CASES, read_topic, running, stack_settings
from tests.waiting import wait_until

pytestmark = pytest.mark.kafka

RESUME_PROMISE_S = 5.0
CASE_BEFORE = CASES / "sarcoma-synovial-hla-a0201.json"
CASE_AFTER = CASES / "paediatric-neuroblastoma-gd2.json"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerConfig]:
    port, controller = free_ports(2)
    config = BrokerConfig(port=port, controller_port=controller, state_dir=tmp_path / "broker")
    up(config, say=lambda m: print(f"[restart-broker] {m}"))
    try:
        yield config
    finally:
        down(config, say=lambda m: print(f"[restart-broker] {m}"))


def case_id(path: Path) -> str:
    return str(json.loads(path.read_text())["case_id"])


def test_services_resume_within_5_s_of_a_broker_restart_and_log_it(
    broker: BrokerConfig, mail: MailCatcher, tmp_path: Path
) -> None:
    eligibility, notifier = stack_settings(
        {"kafka_bootstrap": broker.bootstrap}, mail, tmp_path, prefix="b"
    )
    loop, _ = bootstrap_eligibility(eligibility)

    def mail_for(path: Path) -> list[Any]:
        return [m for m in mail.messages if case_id(path) in str(m)]

    def match_for(path: Path) -> bool:
        records = read_topic(
            broker.bootstrap,
            eligibility.matches_topic,
            lambda rs: any(case_id(path).encode() == r.key for r in rs),  # type: ignore[attr-defined]
            timeout_s=0.5,
        )
        return any(case_id(path).encode() == r.key for r in records)  # type: ignore[attr-defined]

    with (
        structlog.testing.capture_logs() as logs,
        running(loop),
        running(bootstrap_notifier(notifier)[0]),
    ):
        publish_cases([CASE_BEFORE], broker.bootstrap, eligibility.cases_topic, "submitted")
        wait_until(lambda: mail_for(CASE_BEFORE), 60, "the first case's email")

        down(broker, say=print)
        wait_until(
            lambda: len([e for e in logs if e["event"] == "kafka_connection_lost"]) >= 2,
            30,
            "both services log kafka_connection_lost",
        )
        up(broker, say=print)
        ready = time.monotonic()

        publish_cases([CASE_AFTER], broker.bootstrap, eligibility.cases_topic, "submitted")
        wait_until(lambda: match_for(CASE_AFTER), 60, "a match event after the restart")
        matched_s = time.monotonic() - ready
        wait_until(lambda: mail_for(CASE_AFTER), 60, "an email after the restart")
        emailed_s = time.monotonic() - ready
        print(f"after the broker was ready: match event {matched_s:.1f} s, email {emailed_s:.1f} s")

    events = [e["event"] for e in logs]
    assert events.count("kafka_connection_lost") >= 2, "both services say so"
    assert events.count("kafka_connection_restored") >= 2
    assert matched_s < RESUME_PROMISE_S
    assert emailed_s < RESUME_PROMISE_S
