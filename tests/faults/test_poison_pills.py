"""Every poison pill that used to crash-loop a service, sent to both running services as real
processes: each is dead-lettered with a reason, neither process exits, and a good case sent
right behind them is still alerted."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from rarematch.common.contracts import CASE_SUBMITTED
from rarematch.common.contracts.cloudevents import encode
from rarematch.common.kafka.sizing import MAX_RECORD_BYTES
from rarematch.mailcatcher import catch_mail
from rarematch.notifier.adapters.routing_file import load_routing
from tests.e2e.test_poison_pills import ce_headers, just_under_the_limit
from tests.faults.harness import REPO, Row, ServiceProcess, Stack, all_records, sized, wait_until
from tests.faults.test_broker_restart import email_ids, probe_case
from tests.faults.test_eligibility_kills import expected_decisions

RULES = REPO / "rules"
RAISED_TOPIC_BYTES = 4 * MAX_RECORD_BYTES
"""An operator raised the cases topic's max.message.bytes above what the services produce."""


def pills(index: int) -> list[tuple[str, str, bytes, list[tuple[str, bytes]]]]:
    """(input, key, value, headers) of each poison pill, under case ids of this round."""
    case_type, match_type = "rarematch.case.submitted", "rarematch.match.decided"
    alleles = ",".join(['"A*02:01"'] * 60_000)
    many_alleles = f'{{"case_id": "case-pill-hla-{index}", "hla_alleles": [{alleles}]}}'
    two_mb = f'{{"case_id": "case-pill-big-{index}", "free_text": "{"x" * 2_000_000}"}}'
    return [
        (
            "cases",
            f"case-pill-dlt-{index}",
            just_under_the_limit(f"case-pill-dlt-{index}", ce_headers(case_type, f"d{index}")),
            ce_headers(case_type, f"d{index}"),
        ),
        (
            "cases",
            f"case-pill-hla-{index}",
            many_alleles.encode(),
            ce_headers(case_type, f"h{index}"),
        ),
        ("cases", f"case-pill-big-{index}", two_mb.encode(), ce_headers(case_type, f"b{index}")),
        (
            "matches",
            f"case-pill-match-{index}",
            just_under_the_limit(f"case-pill-match-{index}", ce_headers(match_type, f"m{index}")),
            ce_headers(match_type, f"m{index}"),
        ),
    ]


def create_raised_cases_topic(stack: Stack) -> None:
    admin = KafkaAdminClient(bootstrap_servers=stack.bootstrap)
    try:
        configs = {"max.message.bytes": str(RAISED_TOPIC_BYTES)}
        admin.create_topics([NewTopic(stack.cases, 12, 1, topic_configs=configs)])
    finally:
        admin.close()


def test_poison_pills_are_dead_lettered_and_the_case_behind_them_is_alerted(
    kafka_bootstrap: str, tmp_path: Path, reliability: list[Row]
) -> None:
    rounds = sized(ci=2, full=6)
    stack = Stack(kafka_bootstrap, uuid.uuid4().hex[:8])
    create_raised_cases_topic(stack)
    stack.create_topics()
    probes = [probe_case(index) for index in range(rounds)]
    routing = load_routing(RULES)
    probe_alerts = [email_ids(expected_decisions([p], datetime.now(UTC)), routing) for p in probes]
    assert all(probe_alerts), "every probe case must be alerted by email"
    sent: list[tuple[str, str]] = []
    recover: list[float] = []
    producer = KafkaProducer(
        bootstrap_servers=kafka_bootstrap, acks="all", max_request_size=RAISED_TOPIC_BYTES
    )
    topics = {"cases": stack.cases, "matches": stack.matches}
    with catch_mail() as mail:
        env = stack.env(
            RULES,
            RAREMATCH_SMTP_PORT=str(mail.port),
            RAREMATCH_NOTIFIER_STORE_PATH=str(tmp_path / "notifier.sqlite3"),
        )
        eligibility = ServiceProcess("eligibility", env, tmp_path / "eligibility.log")
        notifier = ServiceProcess("notifier", env, tmp_path / "notifier.log")
        eligibility.start()
        notifier.start()
        try:
            for index, probe in enumerate(probes):
                for where, key, value, headers in pills(index):
                    producer.send(topics[where], key=key.encode(), value=value, headers=headers)
                    sent.append((where, key))
                record = encode(CASE_SUBMITTED, probe, key=probe.case_id, source="/faults")
                producer.send(
                    stack.cases, key=record.key, value=record.value, headers=list(record.headers)
                )
                producer.flush(timeout=60)
                since = time.monotonic()
                wait_until(
                    lambda ids=probe_alerts[index]: ids <= {m["Message-ID"] for m in mail.messages},  # type: ignore[misc]
                    120,
                    "the alert of the case sent behind the poison pills",
                )
                recover.append(time.monotonic() - since)
                eligibility.check_alive()
                notifier.check_alive()
        finally:
            producer.close()
            eligibility.stop()
            notifier.stop()
    expected = {key for _, key in sent}
    letters = [
        *all_records(kafka_bootstrap, stack.cases_dlt, 3 * rounds),
        *all_records(kafka_bootstrap, stack.matches_dlt, rounds),
    ]
    reasons = {r.key.decode(): dict(r.headers).get("dlq_reason", b"").decode() for r in letters}
    # An HLA criterion observes only the alleles that bear on it, once each, so the 60,000-allele
    # case is decided with small match events unless a schema bound on the list parks it.
    decided = {r.key.decode() for r in all_records(kafka_bootstrap, stack.matches, rounds)}
    hla_pills = {key for _, key in sent if key.startswith("case-pill-hla-")}
    parked = {key for key, reason in reasons.items() if reason} | (decided & hla_pills)
    reliability.append(
        Row(
            "both services: poison pills",
            sent=len(sent) + rounds,
            expected=len(expected),
            received=len(parked & expected),
            lost=len(expected - parked),
            duplicated=len(letters) - len(reasons),
            crashes=eligibility.self_exits + notifier.self_exits,
            recover_s=recover,
            note=(
                f"{rounds} rounds of 4 pills (invalid case just under 1 MiB, 60,000 HLA alleles "
                "(decided with bounded observations, or parked), "
                "2 MB case on a topic raised to 4 MiB, invalid match just under 1 MiB); "
                "reasons: "
                + ", ".join(sorted(set(reasons.values())))
                + "; recovery: pills sent to the email of the case behind them"
            ),
        )
    )
    assert expected - parked == set(), "a poison pill was neither dead-lettered nor decided"
    assert eligibility.self_exits == notifier.self_exits == 0
