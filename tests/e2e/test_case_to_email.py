"""A case in, a match event and a coordinator email out, on the real broker and SMTP server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rarematch.mailcatcher import email_text
from rarematch.publish import publish_cases
from tests.e2e.conftest import CASES, Stack, read_topic

pytestmark = pytest.mark.kafka


def headers_of(record: Any) -> dict[str, bytes]:
    return dict(record.headers)


def test_case_published_with_kafka_python_yields_match_event_and_email(stack: Stack) -> None:
    publish_cases(
        [CASES / "sarcoma-synovial-hla-a0201.json"],
        stack.bootstrap,
        stack.eligibility.cases_topic,
        "submitted",
    )

    def afami_cel(records: list[Any]) -> list[Any]:
        return [r for r in records if json.loads(r.value)["program_id"] == "TECELRA-US"]

    matches = read_topic(
        stack.bootstrap, stack.eligibility.matches_topic, lambda rs: bool(afami_cel(rs))
    )
    [match] = afami_cel(matches)
    body = json.loads(match.value)
    assert match.key == b"case-sarc-0001"
    assert body["outcome"] == "eligible"
    assert headers_of(match)["ce_type"] == b"rarematch.match.decided"
    assert {c["criterion_id"]: c["status"] for c in body["criteria"]} == {
        "age": "met",
        "diagnosis": "met",
        "extent": "met",
        "prior-chemotherapy": "met",
        "hla": "met",
        "mage-a4": "met",
        "hla-a0205": "not_met",
    }
    assert "hla_alleles" not in body, "no case content in match events"
    assert "age" not in body, "no case content in match events"

    [email] = stack.mail.wait_for(
        1, 60, where=lambda m: "TECELRA-US" in m["Subject"] and "case-sarc-0001" in m["Subject"]
    )
    assert email["To"] == "sarcoma-trials@coordinators.example.org"
    text = email_text(email)
    assert "Outcome:  eligible" in text
    hla = "HLA-A*02:01P, -A*02:02P, -A*02:03P or -A*02:06P positive"
    assert f"{hla} [seen: A*02:01]" in text, "only the alleles that bear on the criterion"
    assert "A*24:02" not in text, "the rest of the HLA type is not the coordinator's"
