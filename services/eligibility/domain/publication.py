"""What a change becomes on the matches topic: a `match.decided` event, never the case itself.

An open decision is published whole (reasons, facts to collect). A revocation carries only
what a coordinator needs to stand down: the previous outcome, why, and for a failed criterion
that criterion's result alone.
"""

from __future__ import annotations

from datetime import datetime

from rarematch.common.contracts import MatchDecided, Outcome
from rarematch.eligibility.domain.evaluate import CompiledRules
from rarematch.eligibility.domain.lifecycle import Catalogue, Change

__all__ = ["match_event"]


def match_event(
    change: Change, case_id: str, rules: CompiledRules, catalogue: Catalogue, now: datetime
) -> MatchDecided:
    version = catalogue.versions.get(change.program_id, "")
    if change.decision is not None and change.outcome is not Outcome.REVOKED:
        return change.decision.model_copy(
            update={
                "change": change.reason,
                "previous_outcome": change.previous,
                "program_version": version,
            }
        )
    failing = [
        result
        for result in (change.decision.criteria if change.decision else [])
        if result.criterion_id == change.failing_criterion
    ]
    compiled = rules.compiled.get(change.program_id)
    program = compiled.program if compiled is not None else None
    return MatchDecided.model_construct(
        case_id=case_id,
        program_id=change.program_id,
        program_title=program.title if program else change.program_id,
        routes=list(program.notify) if program else [],
        program_area=program.area if program else None,
        site_countries=program.site_countries if program else [],
        outcome=Outcome.REVOKED,
        criteria=failing[:1],
        facts_to_collect=[],
        rules_version=rules.version,
        decided_at=now,
        change=change.reason,
        previous_outcome=change.previous,
        failing_criterion=change.failing_criterion,
        program_version=version,
    )
