"""The eligibility handler in KafkaLoop.process: matches out, bad input dead-lettered, no Kafka."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog.contextvars
import structlog.testing
from kafka.errors import KafkaTimeoutError

from rarematch.common.contracts import (
    CASE_SUBMITTED,
    CASE_UPDATED,
    CASE_WITHDRAWN,
    MATCH_DECIDED,
    Case,
    CaseWithdrawn,
    MatchDecided,
    Outcome,
)
from rarematch.common.contracts.cloudevents import MAX_RECORD_BYTES, WireRecord, decode, encode
from rarematch.common.kafka.dead_letter import DLQ_HEADERS, dead_letter
from rarematch.common.kafka.records import Inbound, Outbound, RecordRejected
from rarematch.common.kafka.runner import KafkaLoop
from rarematch.common.kafka.sizing import record_bytes
from rarematch.common.kafka.topics import Topic, Topics
from rarematch.common.settings import KafkaSettings
from rarematch.eligibility.domain.evaluate import CompiledRules, publishable_decisions
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from rarematch.eligibility.handlers import EVENT_SOURCE, Eligibility, reject_unknown_codes
from rarematch.eligibility.rulebook.store import RuleStore, load_rules
from rarematch.eligibility.state import LocalState, PartitionState
from tests.builders import (
    TEST_SOURCE,
    header,
    inbound,
    make_case,
    wire_case,
    with_headers,
)

REPO = Path(__file__).resolve().parents[2]
CASES_TOPIC = "rarematch.cases"
MATCHES_TOPIC = "rarematch.matches"
CASE_STATE_TOPIC = "rarematch.case-state"
DECISION_STATE_TOPIC = "rarematch.decision-state"
CASE_SUMMARIES_TOPIC = "rarematch.case-summaries"
DLT = "rarematch.cases.DLT"
NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def rules() -> Iterator[CompiledRules]:
    compiled = load_rules(REPO / "rules", bundled_oncotree())
    yield compiled
    compiled.engine.close()


def empty_partitions(partitions: Any) -> dict[int, PartitionState]:
    return {partition: PartitionState() for partition in partitions}


@pytest.fixture
def eligibility(rules: CompiledRules) -> Eligibility:
    """Wired as bootstrap wires it, minus Kafka: rules leased from a RuleStore, and partitions
    restored empty."""
    return Eligibility(
        rules=RuleStore(rules).use,
        state=LocalState(),
        topics=Topics.from_settings(KafkaSettings()),
        now=lambda: NOW,
        restore=empty_partitions,
    )


@pytest.fixture
def loop(eligibility: Eligibility) -> KafkaLoop:
    source = Topic(CASES_TOPIC, frozenset({CASE_SUBMITTED, CASE_UPDATED, CASE_WITHDRAWN}))
    # process() never touches the consumer or producer
    return KafkaLoop(
        "eligibility",
        source,
        DLT,
        eligibility.handle,
        consumer=None,  # type: ignore[arg-type]
        producer=None,  # type: ignore[arg-type]
        transaction=eligibility,
    )


def sample(name: str) -> Case:
    return Case.model_validate_json((REPO / "examples" / "cases" / f"{name}.json").read_text())


def match_outputs(out: list[Outbound]) -> list[Outbound]:
    """The match events of one case event: first, then its state records and summary."""
    assert out
    topics = [record.topic for record in out]
    assert topics[-1] == CASE_STATE_TOPIC
    states = [t for t in topics if t != MATCHES_TOPIC]
    assert states in (
        [CASE_STATE_TOPIC],
        [DECISION_STATE_TOPIC, CASE_SUMMARIES_TOPIC, CASE_STATE_TOPIC],
    )
    return out[: len(out) - len(states)]


def matches(out: list[Outbound]) -> list[MatchDecided]:
    decided = []
    for record in match_outputs(out):
        body = decode(record.record, frozenset({MATCH_DECIDED})).body
        assert isinstance(body, MatchDecided)
        decided.append(body)
    return decided


# --- valid cases -------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", [CASE_SUBMITTED, CASE_UPDATED])
def test_a_case_produces_its_non_ineligible_matches(loop: KafkaLoop, event_type: str) -> None:
    case = sample("sarcoma-synovial-hla-a0201")
    out = loop.process(inbound(wire_case(case, event_type=event_type), offset=7))
    decided = matches(out)
    reference = {"NCT02576431", "NCT04044768", "NCT05078866", "NCT05909527", "TECELRA-US"}
    assert [(d.program_id, d.outcome) for d in decided if d.program_id in reference] == [
        ("NCT02576431", Outcome.NEEDS_INFO),
        ("NCT05078866", Outcome.NEEDS_INFO),
        ("TECELRA-US", Outcome.ELIGIBLE),
    ]
    assert {d.case_id for d in decided} == {case.case_id}
    assert {d.decided_at for d in decided} == {NOW}
    for record in match_outputs(out):
        assert record.record.key == case.case_id.encode()
        assert header(record.record, "ce_type") == MATCH_DECIDED.encode()
        assert header(record.record, "ce_source") == EVENT_SOURCE.encode()
        assert header(record.record, "ce_subject") == case.case_id.encode()


def test_match_events_carry_no_case_content(loop: KafkaLoop) -> None:
    case = sample("hereditary-lynch-endometrial")
    for record in match_outputs(loop.process(inbound(wire_case(case)))):
        body = json.loads(record.record.value or b"")
        assert set(body) <= set(MatchDecided.model_fields)
        assert "germline_findings" not in json.dumps(body)


def test_a_case_ineligible_everywhere_produces_no_match_event_only_its_state(
    loop: KafkaLoop,
) -> None:
    case = make_case(age={"years": 1}, diagnosis={"oncotree_code": "TLL"})
    assert match_outputs(loop.process(inbound(wire_case(case)))) == []


@pytest.mark.parametrize("event_type", [CASE_SUBMITTED, CASE_UPDATED])
def test_a_valid_case_becomes_its_case_state_under_its_own_event(
    loop: KafkaLoop, event_type: str
) -> None:
    case = sample("sarcoma-synovial-hla-a0201")
    wire = wire_case(case, event_type=event_type)
    state = loop.process(inbound(wire))[-1]
    assert state.topic == CASE_STATE_TOPIC
    assert state.record.key == case.case_id.encode()
    assert header(state.record, "ce_type") == event_type.encode()
    assert header(state.record, "ce_id") == header(wire, "ce_id")
    stored = decode(state.record, frozenset({CASE_SUBMITTED, CASE_UPDATED})).body
    assert stored == case


def test_a_withdrawal_writes_a_tombstone_to_the_case_state(loop: KafkaLoop) -> None:
    body = CaseWithdrawn(case_id="case-sarc-0001", reason="consent_withdrawn")
    record = encode(CASE_WITHDRAWN, body, key=body.case_id, source=TEST_SOURCE)
    [tombstone] = loop.process(inbound(record))  # nothing was open: nothing to revoke
    assert tombstone.topic == CASE_STATE_TOPIC
    assert tombstone.record.key == b"case-sarc-0001"
    assert tombstone.record.value is None


def test_a_case_the_service_rejects_leaves_the_case_state_alone(loop: KafkaLoop) -> None:
    case = make_case(diagnosis={"oncotree_code": "NOT_A_CODE"})
    [dead] = loop.process(inbound(wire_case(case)))
    assert dead.topic == DLT


def test_publishable_decisions_leave_out_ineligible(rules: CompiledRules) -> None:
    decided = publishable_decisions(sample("sarcoma-synovial-hla-a0201"), rules, NOW)
    assert [(d.program_id, d.outcome) for d in decided] == [
        ("ISRCTN16699730", Outcome.NEEDS_INFO),
        ("NCT02576431", Outcome.NEEDS_INFO),
        ("NCT05078866", Outcome.NEEDS_INFO),
        ("TECELRA-US", Outcome.ELIGIBLE),
    ]


# --- dead letters ------------------------------------------------------------------------------


def assert_dead_lettered(
    out: list[Outbound], original: Inbound, reason: str, extra: int = 0
) -> str:
    """Exactly one DLT record: the original key/value/headers plus dlq_* headers; returns error."""
    assert len(out) == 1
    [dead] = out
    assert dead.topic == DLT
    assert (dead.record.key, dead.record.value) == (original.record.key, original.record.value)
    names = [name for name, _ in dead.record.headers]
    assert names[: len(original.record.headers)] == [n for n, _ in original.record.headers]
    assert names[len(original.record.headers) :][: len(DLQ_HEADERS)] == list(DLQ_HEADERS)
    assert len(names) == len(original.record.headers) + len(DLQ_HEADERS) + extra
    assert header(dead.record, "dlq_reason") == reason.encode()
    assert header(dead.record, "dlq_topic") == original.topic.encode()
    assert header(dead.record, "dlq_partition") == str(original.partition).encode()
    assert header(dead.record, "dlq_offset") == str(original.offset).encode()
    assert header(dead.record, "dlq_service") == b"eligibility"
    error = header(dead.record, "dlq_error")
    assert error
    return error.decode()


def valid_record() -> WireRecord:
    return wire_case(sample("sarcoma-synovial-hla-a0201"))


BAD_RECORDS = {
    "bad_json": lambda r: WireRecord(r.key, b'{"case_id": ', r.headers),
    "missing_headers": lambda r: with_headers(r, drop=("ce_id", "ce_type")),
    "schema_violation": lambda r: WireRecord(
        r.key, b'{"case_id": "case-sarc-0001", "x": 1}', r.headers
    ),
    "key_mismatch": lambda r: WireRecord(b"another-case", r.value, r.headers),
    "unknown_type": lambda r: with_headers(r, replace={"ce_type": MATCH_DECIDED.encode()}),
    "empty_body": lambda r: WireRecord(r.key, None, r.headers),
}


@pytest.mark.parametrize("reason", sorted(BAD_RECORDS))
def test_invalid_records_are_dead_lettered_once(loop: KafkaLoop, reason: str) -> None:
    original = inbound(BAD_RECORDS[reason](valid_record()), partition=2, offset=41)
    error = assert_dead_lettered(loop.process(original), original, reason)
    assert reason != "missing_headers" or "ce_id, ce_type" in error


def test_unknown_oncotree_code_is_dead_lettered_without_the_code(loop: KafkaLoop) -> None:
    case = make_case(diagnosis={"oncotree_code": "SYNZ"})
    original = inbound(wire_case(case), offset=3)
    error = assert_dead_lettered(loop.process(original), original, "unknown_oncotree_code")
    assert error.startswith("data.diagnosis.oncotree_code: not an OncoTree")
    assert "SYNZ" not in error, "the code is case content and the error is logged"


def test_a_record_over_the_limit_is_dead_lettered_cut_to_fit(loop: KafkaLoop) -> None:
    value = b" " * (MAX_RECORD_BYTES + 10)
    original = inbound(WireRecord(b"case-1", value, valid_record().headers), offset=5)
    [dead] = loop.process(original)
    assert header(dead.record, "dlq_reason") == b"too_large"
    assert header(dead.record, "dlq_truncated") == b"true"
    assert record_bytes(dead.record) <= MAX_RECORD_BYTES
    assert int(header(dead.record, "dlq_original_bytes") or 0) > MAX_RECORD_BYTES


def test_the_loop_goes_on_after_a_dead_letter(loop: KafkaLoop) -> None:
    bad = inbound(WireRecord(b"k", b"{", valid_record().headers), offset=1)
    good = inbound(valid_record(), offset=2)
    assert [o.topic for o in loop.process(bad)] == [DLT]
    assert {o.topic for o in loop.process(good)} == {
        MATCHES_TOPIC,
        DECISION_STATE_TOPIC,
        CASE_SUMMARIES_TOPIC,
        CASE_STATE_TOPIC,
    }


def test_redead_lettering_replaces_old_dlq_headers() -> None:
    original = inbound(
        WireRecord(b"k", b"v", (("ce_id", b"1"), ("dlq_reason", b"old"), ("dlq_offset", b"9"))),
        topic="rarematch.cases.DLT",
        partition=1,
        offset=5,
    )
    dead = dead_letter(original, "bad_json", "why", "elsewhere", "svc")
    assert dead.topic == "elsewhere"
    assert [name for name, _ in dead.record.headers] == ["ce_id", *DLQ_HEADERS]
    assert header(dead.record, "dlq_reason") == b"bad_json"
    assert header(dead.record, "dlq_offset") == b"5"
    assert header(dead.record, "dlq_topic") == b"rarematch.cases.DLT"


def test_dlq_error_is_bounded() -> None:
    dead = dead_letter(inbound(WireRecord(b"k", b"v")), "r", "é" * 5000, "dlt", "svc")
    assert len(header(dead.record, "dlq_error") or b"") <= 4000


def test_reject_unknown_codes_accepts_known_and_absent(rules: CompiledRules) -> None:
    reject_unknown_codes(make_case(diagnosis={"oncotree_code": "LMS"}), rules)
    reject_unknown_codes(make_case(diagnosis=None), rules)
    with pytest.raises(RecordRejected) as caught:
        reject_unknown_codes(make_case(diagnosis={"oncotree_code": "QQQQQQQQ"}), rules)
    assert caught.value.reason == "unknown_oncotree_code"
    assert "did you mean" not in str(caught.value)


def test_a_handler_error_is_retried_then_dead_lettered_not_a_crash_loop() -> None:
    def broken(_: Any, __: Inbound) -> list[Outbound]:
        raise RuntimeError("boom")

    source = Topic(CASES_TOPIC, frozenset({CASE_SUBMITTED}))
    loop = KafkaLoop(
        "eligibility",
        source,
        DLT,
        broken,
        consumer=None,
        producer=None,
        retry_base_delay_s=0,  # type: ignore[arg-type]
    )
    original = inbound(valid_record())
    error = assert_dead_lettered(loop.process(original), original, "handler_failed", extra=1)
    assert "RuntimeError" in error


def test_a_transport_error_in_a_handler_propagates_so_the_batch_is_not_committed() -> None:
    def broker_gone(_: Any, __: Inbound) -> list[Outbound]:
        raise KafkaTimeoutError("no broker")

    source = Topic(CASES_TOPIC, frozenset({CASE_SUBMITTED}))
    loop = KafkaLoop("eligibility", source, DLT, broker_gone, consumer=None, producer=None)  # type: ignore[arg-type]
    with pytest.raises(KafkaTimeoutError):
        loop.process(inbound(valid_record()))


def test_a_heterozygous_hla_case_is_matched(loop: KafkaLoop) -> None:
    data = sample("sarcoma-synovial-hla-a0201").model_dump(exclude_none=True)
    case = Case.model_validate({**data, "hla_alleles": ["A*02:01", "A*02:06"]})
    decided = matches(loop.process(inbound(wire_case(case))))
    assert ("TECELRA-US", Outcome.ELIGIBLE) in [(d.program_id, d.outcome) for d in decided]


# --- privacy -----------------------------------------------------------------------------------

NAME = "Jane Doe 1961"


@pytest.mark.parametrize(
    "record",
    [
        lambda r: WireRecord(NAME.encode(), r.value, r.headers),  # a key that is not a case id
        lambda r: WireRecord(
            r.key, b'{"case_id": "case-sarc-0001", "Jane Doe 1961": 1}', r.headers
        ),
        lambda r: with_headers(r, replace={"ce_type": NAME.encode()}),
    ],
    ids=["key", "unknown-field-name", "header-value"],
)
def test_nothing_taken_from_a_bad_record_reaches_logs_or_dead_letter_headers(
    loop: KafkaLoop, record: Callable[[WireRecord], WireRecord]
) -> None:
    original = inbound(record(valid_record()))
    with structlog.testing.capture_logs([structlog.contextvars.merge_contextvars]) as logs:
        [dead] = loop.process(original)
    headers = [(n, v) for n, v in dead.record.headers if n.startswith("dlq_")]
    assert "Jane" not in repr(headers)
    assert logs, "the dead letter is logged"
    assert "Jane" not in repr(logs)


def test_a_case_id_key_is_logged() -> None:
    assert inbound(valid_record()).case_id == "case-sarc-0001"
    assert inbound(WireRecord(NAME.encode(), b"{}", ())).case_id is None
