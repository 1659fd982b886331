"""The coordinators' worklist on the real broker: one summary per case on a compacted topic,
written only when the case's decisions change, its tiers those of the match events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from tests.e2e.test_lifecycle import SARCOMA, Live, case_file, live, submit
from tests.faults.harness import all_records

pytestmark = pytest.mark.kafka
__all__ = ["live"]  # the fixture, used by name


def summaries(live: Live, at_least: int) -> list[dict[str, Any]]:
    topic = live.settings.case_summaries_topic
    records = all_records(live.settings.kafka_bootstrap, topic, at_least)
    return [json.loads(r.value) for r in records]


def cleanup_policy(bootstrap: str, topic: str) -> str:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        [configs] = [by_name[topic] for by_name in described.values() if topic in by_name]
        return str(configs["cleanup.policy"]["value"])
    finally:
        admin.close()


def test_a_summary_is_written_only_when_the_case_changes_on_a_compacted_topic(
    live: Live, tmp_path: Path
) -> None:
    submit(live, [SARCOMA])
    submit(live, [SARCOMA], "updated")  # identical: no new summary
    [first] = summaries(live, 1)
    events = live.matches()
    assert {(p["program_id"], p["tier"]) for p in first["programs"]} == {
        (e["program_id"], e["tier"]) for e in events
    }
    counts = first["counts"]
    assert counts["eligible"] + counts["likely"] + counts["possible"] == len(first["programs"])
    assert "TECELRA-US" in {p["program_id"] for p in first["programs"]}

    submit(live, [case_file(tmp_path, "aged-16.json", age={"years": 16})], "updated")
    history = summaries(live, 2)
    assert len(history) == 2, "one summary per change of the case's decisions"
    assert "TECELRA-US" not in {p["program_id"] for p in history[1]["programs"]}
    assert all(r.key.decode() == first["case_id"] for r in all_records(
        live.settings.kafka_bootstrap, live.settings.case_summaries_topic, 2))  # fmt: skip
    policy = cleanup_policy(live.settings.kafka_bootstrap, live.settings.case_summaries_topic)
    assert policy == "compact"
