"""A case's summary from its decision state: programs by tier with their reasons, and the
next tests — every fact to collect, ranked by how many of the case's programs it would settle.

Pure: the same state and rules give the same summary (but for `summarized_at`), so the service
publishes one only when the decision state changed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime

from rarematch.common.contracts import Outcome, Tier
from rarematch.common.contracts.summary import CaseSummary, NextTest, SummaryProgram, TierCounts
from rarematch.eligibility.domain.evaluate import CompiledRules
from rarematch.eligibility.domain.lifecycle import DecisionState, StoredDecision

__all__ = ["TIER_ORDER", "case_summary", "next_tests"]

TIER_ORDER = {Tier.ELIGIBLE: 0, Tier.LIKELY: 1, Tier.POSSIBLE: 2}


def case_summary(
    state: DecisionState, rules: CompiledRules, now: datetime, *, withdrawn: bool = False
) -> CaseSummary:
    programs = sorted(
        (_program(pid, stored, rules) for pid, stored in state.open.items()),
        key=lambda p: (TIER_ORDER[p.tier], p.program_id),
    )
    return CaseSummary(
        case_id=state.case_id,
        withdrawn=withdrawn,
        counts=TierCounts(**Counter(p.tier.value for p in programs)),
        programs=programs,
        next_tests=next_tests(programs),
        rules_version=rules.version,
        summarized_at=now,
    )


def next_tests(programs: list[SummaryProgram]) -> list[NextTest]:
    """Each fact once, with the programs needing it (best tier first, as `programs` are
    ordered); the fact that settles most first, ties by the best tier it settles, then by
    name."""
    needing: dict[str, list[SummaryProgram]] = defaultdict(list)
    for program in programs:
        for fact in dict.fromkeys(program.to_collect):
            needing[fact].append(program)
    ranked = sorted(
        needing.items(),
        key=lambda item: (-len(item[1]), TIER_ORDER[item[1][0].tier], item[0]),
    )
    return [
        NextTest(fact=fact, settles=len(group), programs=[p.program_id for p in group])
        for fact, group in ranked
    ]


def _program(program_id: str, stored: StoredDecision, rules: CompiledRules) -> SummaryProgram:
    compiled = rules.compiled.get(program_id)
    program = compiled.program if compiled is not None else None
    texts = {c.id: c.text for _, c in program.sections} if program else {}
    return SummaryProgram(
        program_id=program_id,
        program_title=program.title if program else program_id,
        tier=stored.tier or _tier_of_outcome(stored),
        routes=list(program.notify) if program else [],
        program_area=program.area if program else None,
        site_countries=program.site_countries if program else [],
        reasons=[texts[i] for i in stored.matched_on if i in texts],
        to_collect=stored.to_collect,
    )


def _tier_of_outcome(stored: StoredDecision) -> Tier:
    """A decision stored before tiers existed: eligible, or at best possible."""
    return Tier.ELIGIBLE if stored.outcome is Outcome.ELIGIBLE else Tier.POSSIBLE
