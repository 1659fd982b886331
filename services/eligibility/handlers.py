"""What the eligibility service does with each case event; one function per event type."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime

from rarematch.common import metrics
from rarematch.common.contracts import (
    MATCH_DECIDED,
    Case,
    CaseWithdrawn,
    MatchDecided,
    Outcome,
)
from rarematch.common.contracts.cloudevents import Envelope, WireRecord, encode
from rarematch.common.kafka.records import Inbound, Outbound, RecordRejected
from rarematch.common.logging import get_logger
from rarematch.eligibility.domain.engine import EngineError
from rarematch.eligibility.domain.evaluate import CompiledRules, publishable_decisions

__all__ = [
    "EVENT_SOURCE",
    "case_state_record",
    "case_state_tombstone",
    "handle_case_event",
    "match_records",
    "on_case",
    "reject_unknown_codes",
]

EVENT_SOURCE = "/rarematch/eligibility"


def on_case(case: Case, rules: CompiledRules, now: datetime) -> list[MatchDecided]:
    """Decisions worth publishing: every program whose outcome is not `ineligible`."""
    reject_unknown_codes(case, rules)
    try:
        with metrics.EVALUATION_SECONDS.time():
            published = publishable_decisions(case, rules, now)
    except EngineError as error:  # this case trips an engine limit: park it, keep serving
        raise RecordRejected(
            "evaluation_failed", f"{error}; the case is kept here for a rules fix and replay"
        ) from error
    get_logger().info(
        "case_evaluated",
        rules_version=rules.version,
        programs=len(rules.programs),
        eligible=sum(d.outcome is Outcome.ELIGIBLE for d in published),
        needs_info=sum(d.outcome is Outcome.NEEDS_INFO for d in published),
    )
    return published


def reject_unknown_codes(case: Case, rules: CompiledRules) -> None:
    """An OncoTree code the tree does not know cannot be matched: dead-letter, do not guess."""
    if case.diagnosis is None or case.diagnosis.oncotree_code in rules.oncotree:
        return
    raise RecordRejected(  # no code in the message: it is case content, and it is logged
        "unknown_oncotree_code",
        f"data.diagnosis.oncotree_code: not an OncoTree {rules.oncotree.version} code; "
        "correct it at intake and resubmit",
    )


def match_records(decisions: Sequence[MatchDecided], topic: str) -> list[Outbound]:
    for decision in decisions:
        metrics.MATCH_EVENTS.labels(decision.outcome.value).inc()
    return [
        Outbound(topic, encode(MATCH_DECIDED, d, key=d.case_id, source=EVENT_SOURCE))
        for d in decisions
    ]


def handle_case_event(
    envelope: Envelope,
    inbound: Inbound,
    *,
    rules: Callable[[], AbstractContextManager[CompiledRules]],
    now: Callable[[], datetime],
    matches_topic: str,
    case_state_topic: str,
) -> list[Outbound]:
    """Route one decoded case event: decisions to publish, then the case's new state."""
    if isinstance(envelope.body, CaseWithdrawn):
        get_logger().info("case_withdrawn")
        return [case_state_tombstone(envelope.body.case_id, case_state_topic)]
    assert isinstance(envelope.body, Case)
    with rules() as current:
        decisions = on_case(envelope.body, current, now())
    return [
        *match_records(decisions, matches_topic),
        case_state_record(envelope, envelope.body, case_state_topic),
    ]


def case_state_record(envelope: Envelope, case: Case, topic: str) -> Outbound:
    """The latest valid case, under its own event's type and id (compaction keeps the last)."""
    record = encode(
        envelope.event_type,
        case,
        key=case.case_id,
        source=EVENT_SOURCE,
        event_id=envelope.event_id,
    )
    return Outbound(topic, record)


def case_state_tombstone(case_id: str, topic: str) -> Outbound:
    """A withdrawn case leaves the state: a null value, which compaction removes in time."""
    return Outbound(topic, WireRecord(key=case_id.encode(), value=None))
