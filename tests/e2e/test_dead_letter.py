"""Bad input is dead-lettered with its reason and position, and the next good case still flows."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kafka import KafkaProducer

from rarematch.publish import publish_cases
from tests.e2e.conftest import CASES, Stack, read_topic

pytestmark = pytest.mark.kafka

CE_HEADERS = [
    ("ce_specversion", b"1.0"),
    ("ce_id", b"bad-0001"),
    ("ce_source", b"/intake/test"),
    ("ce_type", b"rarematch.case.submitted"),
    ("content-type", b"application/json"),
]


def test_invalid_records_go_to_the_dlt_and_the_next_case_is_processed(stack: Stack) -> None:
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap, acks="all")
    topic = stack.eligibility.cases_topic
    producer.send(
        topic, key=b"case-bad-json", value=b'{"case_id": "case-bad-json",', headers=CE_HEADERS
    )
    producer.send(topic, key=b"case-no-headers", value=b'{"case_id": "case-no-headers"}')
    producer.send(
        topic,
        key=b"case-bad-age",
        value=json.dumps({"case_id": "case-bad-age", "age": {"years": -4}}).encode(),
        headers=CE_HEADERS,
    )
    producer.flush()
    producer.close()
    publish_cases([CASES / "basket-lung-kras-g12c.json"], stack.bootstrap, topic, "submitted")

    dead = read_topic(
        stack.bootstrap, stack.eligibility.cases_dead_letter_topic, lambda rs: len(rs) >= 3
    )
    by_key = {r.key: dict(r.headers) for r in dead}  # type: ignore[attr-defined]
    assert by_key[b"case-bad-json"]["dlq_reason"] == b"bad_json"
    assert by_key[b"case-no-headers"]["dlq_reason"] == b"missing_headers"
    assert by_key[b"case-bad-age"]["dlq_reason"] == b"schema_violation"
    assert b"data.age.years" in by_key[b"case-bad-age"]["dlq_error"]
    for headers in by_key.values():
        assert headers["dlq_topic"] == topic.encode()
        assert headers["dlq_service"] == b"eligibility"
        assert int(headers["dlq_offset"]) >= 0
        assert int(headers["dlq_partition"]) >= 0
    original = next(r for r in dead if r.key == b"case-bad-json")  # type: ignore[attr-defined]
    assert original.value == b'{"case_id": "case-bad-json",'  # type: ignore[attr-defined]

    def lung_case(records: list[Any]) -> bool:
        return any(json.loads(r.value)["case_id"] == "case-bskt-0004" for r in records)

    matches = read_topic(stack.bootstrap, stack.eligibility.matches_topic, lung_case)
    assert lung_case(matches), "the valid case after the bad ones was not processed"
