"""Records that used to crash-loop a service are dead-lettered, and the next record still flows.

Each crashed the service 18-30 times a minute before: a dead letter over the producer's limit,
a match event over it, and the same on the notifier's input.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from kafka import KafkaProducer

from rarematch.common.contracts.cloudevents import WireRecord
from rarematch.common.kafka.sizing import MAX_RECORD_BYTES, record_bytes
from rarematch.publish import publish_cases
from tests.e2e.conftest import CASES, Stack, read_topic
from tests.waiting import wait_until

pytestmark = pytest.mark.kafka


def ce_headers(event_type: str, event_id: str) -> list[tuple[str, bytes]]:
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", event_id.encode()),
        ("ce_source", b"/intake/test"),
        ("ce_type", event_type.encode()),
        ("content-type", b"application/json"),
    ]


def just_under_the_limit(case_id: str, headers: list[tuple[str, bytes]]) -> bytes:
    """An invalid body (an unknown field) whose record is 50 bytes under the limit, so its dead
    letter (the record plus `dlq_*` headers) is over it."""
    empty = json.dumps({"case_id": case_id, "free_text": ""}).encode()
    room = MAX_RECORD_BYTES - 50 - record_bytes(WireRecord(case_id.encode(), empty, tuple(headers)))
    return json.dumps({"case_id": case_id, "free_text": "x" * room}).encode()


def send(stack: Stack, topic: str, key: str, value: bytes, headers: list[Any]) -> None:
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap, acks="all")
    producer.send(topic, key=key.encode(), value=value, headers=headers).get(timeout=30)
    producer.close()


def dead_letters(stack: Stack, topic: str, keys: set[bytes]) -> dict[bytes, Any]:
    records = read_topic(stack.bootstrap, topic, lambda rs: {r.key for r in rs} >= keys)  # type: ignore[attr-defined]
    return {r.key: r for r in records}  # type: ignore[attr-defined]


def hla_records(stack: Stack, topic: str) -> list[Any]:
    """The records of the 60,000-allele case on `topic` (read briefly from the start)."""
    records = read_topic(stack.bootstrap, topic, lambda rs: False, timeout_s=2.0)
    return [r for r in records if r.key == b"case-poison-hla"]  # type: ignore[attr-defined]


def test_eligibility_parks_oversized_outcomes_and_keeps_serving(stack: Stack) -> None:
    topic = stack.eligibility.cases_topic
    headers = ce_headers("rarematch.case.submitted", "p1")
    invalid = just_under_the_limit("case-poison-dlt", headers)
    send(stack, topic, "case-poison-dlt", invalid, headers)
    alleles = json.dumps(
        {"case_id": "case-poison-hla", "diagnosis": {"oncotree_code": "SYNS"},
         "hla_alleles": ["A*02:01"] * 60_000}
    ).encode()  # fmt: skip
    send(stack, topic, "case-poison-hla", alleles, ce_headers("rarematch.case.submitted", "p2"))
    publish_cases([CASES / "basket-lung-kras-g12c.json"], stack.bootstrap, topic, "submitted")

    dead = dead_letters(stack, stack.eligibility.cases_dead_letter_topic, {b"case-poison-dlt"})
    cut = dict(dead[b"case-poison-dlt"].headers)
    assert cut["dlq_reason"] == b"schema_violation"
    assert cut["dlq_truncated"] == b"true"
    assert cut["dlq_original_sha256"] == hashlib.sha256(invalid).hexdigest().encode()
    assert invalid.startswith(dead[b"case-poison-dlt"].value)
    # The 60,000 alleles are parked (a schema bound on the list) or, since an HLA criterion
    # observes only the alleles that bear on it, once each, decided with small match events.
    hla = b"case-poison-hla"

    def outcome() -> tuple[list[Any], list[Any]] | None:
        found = (
            hla_records(stack, stack.eligibility.cases_dead_letter_topic),
            hla_records(stack, stack.eligibility.matches_topic),
        )
        return found if any(found) else None

    parked, matched = wait_until(outcome, 60, "the 60,000-allele case dead-lettered or decided")
    assert not (parked and matched), "one record is either dead-lettered or decided"
    for record in parked:
        assert dict(record.headers)["dlq_reason"] in {b"output_too_large", b"schema_violation"}
    for record in matched:
        assert record_bytes(WireRecord(hla, record.value, tuple(record.headers))) < 64_000
        observed = [c.get("observed") for c in json.loads(record.value)["criteria"]]
        assert "A*02:01, A*02:01" not in json.dumps(observed)

    def lung_case(records: list[Any]) -> bool:
        return any(json.loads(r.value)["case_id"] == "case-bskt-0004" for r in records)

    matches = read_topic(stack.bootstrap, stack.eligibility.matches_topic, lung_case)
    assert lung_case(matches), "the case after the poison pills was not processed"


def test_notifier_parks_an_oversized_invalid_match_and_keeps_alerting(stack: Stack) -> None:
    headers = ce_headers("rarematch.match.decided", "m1")
    invalid = just_under_the_limit("case-poison-match", headers)
    send(stack, stack.notifier.matches_topic, "case-poison-match", invalid, headers)
    publish_cases(
        [CASES / "paediatric-neuroblastoma-gd2.json"],
        stack.bootstrap,
        stack.eligibility.cases_topic,
        "submitted",
    )
    dead = dead_letters(stack, stack.notifier.matches_dead_letter_topic, {b"case-poison-match"})
    headers = dict(dead[b"case-poison-match"].headers)
    assert headers["dlq_service"] == b"notifier"
    assert headers["dlq_truncated"] == b"true"
    assert stack.mail.wait_for(1, 60), "no alert after the poison pill"
