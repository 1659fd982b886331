"""docs/asyncapi.yaml describes the topics and event types the code actually uses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from rarematch.common import contracts
from rarematch.common.kafka.dead_letter import DLQ_HEADERS, TRUNCATION_HEADERS
from rarematch.common.settings import EligibilitySettings, NotifierSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"
SCHEMA_FILES = {
    "../schemas/case.schema.json",
    "../schemas/case-withdrawn.schema.json",
    "../schemas/match-decided.schema.json",
    "../schemas/decision-state.schema.json",
    "../schemas/case-summary.schema.json",
}
EVENT_TYPES = [
    contracts.CASE_SUBMITTED,
    contracts.CASE_UPDATED,
    contracts.CASE_WITHDRAWN,
    contracts.MATCH_DECIDED,
]


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    data = yaml.safe_load(DOC.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def test_asyncapi_version(doc: dict[str, Any]) -> None:
    assert doc["asyncapi"] == "3.0.0"


def test_channel_addresses_are_the_default_topics(doc: dict[str, Any]) -> None:
    """One channel per `*_topic` setting (cases, matches and their dead-letter topics)."""
    defaults = {
        field.default
        for settings in (EligibilitySettings, NotifierSettings)
        for name, field in settings.model_fields.items()
        if name.endswith("_topic")
    }
    assert {"rarematch.cases", "rarematch.matches", "rarematch.cases.DLT"} <= defaults
    assert {channel["address"] for channel in doc["channels"].values()} == defaults


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_type_is_described(doc: dict[str, Any], event_type: str) -> None:
    names = {message.get("name") for message in doc["components"]["messages"].values()}
    assert event_type in names


def test_dead_letter_headers_are_described(doc: dict[str, Any]) -> None:
    headers = doc["components"]["schemas"]["deadLetterHeaders"]
    assert set(headers["required"]) == set(DLQ_HEADERS)
    assert set(headers["properties"]) == {*DLQ_HEADERS, "dlq_exception", *TRUNCATION_HEADERS}


def test_payloads_reference_the_exported_schemas(doc: dict[str, Any]) -> None:
    external = {ref for ref in refs(doc) if not ref.startswith("#")}
    assert external == SCHEMA_FILES


def test_internal_references_resolve(doc: dict[str, Any]) -> None:
    for ref in refs(doc):
        if ref.startswith("#/"):
            node: Any = doc
            for part in ref[2:].split("/"):
                assert isinstance(node, dict), ref
                assert part in node, f"{ref} does not resolve"
                node = node[part]
