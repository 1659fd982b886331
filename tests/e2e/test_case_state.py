"""The compacted case-state topic: the latest valid case per case id, a tombstone on withdrawal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from rarematch.publish import publish_cases
from tests.e2e.conftest import CASES, Stack, read_topic

pytestmark = pytest.mark.kafka

CASE = CASES / "sarcoma-synovial-hla-a0201.json"


def test_a_case_is_kept_as_its_state_until_a_withdrawal_writes_a_tombstone(
    stack: Stack, tmp_path: Path
) -> None:
    case_id = json.loads(CASE.read_text())["case_id"]
    withdrawal = tmp_path / "withdrawn.json"
    withdrawal.write_text(json.dumps({"case_id": case_id, "reason": "enrolled"}))
    topic = stack.eligibility.cases_topic
    publish_cases([CASE], stack.bootstrap, topic, "submitted")
    publish_cases([CASE], stack.bootstrap, topic, "updated")
    publish_cases([withdrawal], stack.bootstrap, topic, "withdrawn")

    def of_case(records: list[Any]) -> list[Any]:
        return [r for r in records if r.key == case_id.encode()]

    state = of_case(
        read_topic(
            stack.bootstrap,
            stack.eligibility.case_state_topic,
            lambda records: len(of_case(records)) >= 2,
        )
    )
    assert [dict(r.headers).get("ce_type") for r in state] == [
        b"rarematch.case.submitted",
        None,
    ], "an identical update leaves the state as it was; a withdrawal is a tombstone"
    assert json.loads(state[0].value) == json.loads(CASE.read_text())
    assert state[1].value is None


def test_the_case_state_topic_is_compacted_and_partitioned_like_the_cases_topic(
    stack: Stack,
) -> None:
    admin = KafkaAdminClient(bootstrap_servers=stack.bootstrap)
    try:
        state = stack.eligibility.case_state_topic
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, state)])
        [configs] = [by_name[state] for by_name in described.values() if state in by_name]
        assert configs["cleanup.policy"]["value"] == "compact"
        topics = {
            t["name"]: t for t in admin.describe_topics([stack.eligibility.cases_topic, state])
        }
        partitions = {name: len(t["partitions"]) for name, t in topics.items()}
        assert partitions[state] == partitions[stack.eligibility.cases_topic]
    finally:
        admin.close()
