"""Decisions over time: what changed for a case since its last published decisions.

A pure function of (what was last published for the case, what the rules decide now, which
programs exist): it yields only the changes — a new open decision, a changed outcome or
changed facts to collect, or a revocation (the case now fails a criterion, was withdrawn, or
the program closed or was removed) — and the state to remember next. Resubmitting the same
case changes nothing. The service keeps this state per case in a compacted topic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from rarematch.common.contracts import (
    ChangeReason,
    CriterionResult,
    CriterionStatus,
    MatchDecided,
    Outcome,
    Tier,
)
from rarematch.common.contracts.case import CaseId
from rarematch.eligibility.domain.criteria import Program

__all__ = [
    "Catalogue",
    "Change",
    "ChangeReason",
    "DecisionState",
    "StoredDecision",
    "changes_for",
    "program_version",
    "withdrawn",
]

OPEN_OUTCOMES = frozenset({Outcome.ELIGIBLE, Outcome.NEEDS_INFO})


class StoredDecision(BaseModel):
    """What was last published for one case and one open program."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    outcome: Outcome
    tier: Tier | None = None
    to_collect: list[str] = Field(default_factory=list)
    """The facts to collect, as published: the case summary ranks them into next tests."""
    matched_on: list[str] = Field(default_factory=list)
    """Ids of the defining criteria the case meets: the summary's reasons."""
    program_version: str


class DecisionState(BaseModel):
    """The open decisions last published for one case, by program id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    case_id: CaseId
    open: dict[str, StoredDecision] = Field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """One decision to publish: `outcome` is `revoked` for a revocation."""

    program_id: str
    outcome: Outcome
    previous: Outcome | None
    reason: ChangeReason
    decision: MatchDecided | None
    """The decision behind the change; None when nothing was evaluated (withdrawn, removed)."""
    failing_criterion: str | None = None
    """For `fails_criterion`: the id of the first criterion the case now fails."""


@dataclass(frozen=True)
class Catalogue:
    """Which programs exist now: open ones by version, and the ids of closed ones."""

    versions: Mapping[str, str]
    closed: frozenset[str] = frozenset()

    @classmethod
    def of(cls, programs: tuple[Program, ...] | list[Program]) -> Catalogue:
        return cls(
            versions={p.id: program_version(p) for p in programs if p.status != "closed"},
            closed=frozenset(p.id for p in programs if p.status == "closed"),
        )

    def changed_since(self, before: Catalogue) -> frozenset[str]:
        """Open programs to re-evaluate when `before` is replaced by this catalogue: new,
        reopened or edited. (Programs that closed or went away revoke without evaluation.)"""
        return frozenset(
            pid for pid, version in self.versions.items() if before.versions.get(pid) != version
        )

    def differs_from(self, before: Catalogue) -> bool:
        """Whether any case may decide differently: a program changed, closed or went away."""
        return bool(self.changed_since(before)) or not set(before.versions) <= set(self.versions)


def program_version(program: Program) -> str:
    """Content hash of everything in a program file that can change a decision or its event."""
    body = program.model_dump_json(exclude={"tests", "notes", "transcribed", "source"})
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest()[:16]


def changes_for(
    state: DecisionState, decided: Mapping[str, MatchDecided], catalogue: Catalogue
) -> tuple[list[Change], DecisionState]:
    """The changes between `state` and the decisions just made, and the state after them.

    `decided` holds a decision, of any outcome, for every program evaluated; a program open in
    `state` but not evaluated keeps its decision unless it has closed or is gone.
    """
    changes: list[Change] = []
    after = dict(state.open)
    for program_id, decision in decided.items():
        change = _change(after.get(program_id), program_id, decision)
        if decision.outcome in OPEN_OUTCOMES:
            after[program_id] = _stored(decision, catalogue.versions.get(program_id, ""))
        else:
            after.pop(program_id, None)
        if change is not None:
            changes.append(change)
    for program_id in sorted(set(after) - set(decided)):
        if program_id in catalogue.versions:
            continue
        reason = (
            ChangeReason.PROGRAM_CLOSED
            if program_id in catalogue.closed
            else ChangeReason.PROGRAM_REMOVED
        )
        changes.append(_revoked(program_id, after.pop(program_id).outcome, reason))
    return changes, DecisionState(case_id=state.case_id, open=after)


def withdrawn(state: DecisionState) -> tuple[list[Change], DecisionState]:
    """A withdrawn case: every open decision is revoked, and nothing is remembered."""
    changes = [
        _revoked(program_id, stored.outcome, ChangeReason.CASE_WITHDRAWN)
        for program_id, stored in sorted(state.open.items())
    ]
    return changes, DecisionState(case_id=state.case_id)


def _change(
    previous: StoredDecision | None, program_id: str, decision: MatchDecided
) -> Change | None:
    was = previous.outcome if previous else None
    if decision.outcome not in OPEN_OUTCOMES:
        if previous is None:
            return None
        return Change(
            program_id,
            Outcome.REVOKED,
            was,
            ChangeReason.FAILS_CRITERION,
            decision,
            failing_criterion=_first_failing(decision.criteria),
        )
    if previous is None:
        reason = ChangeReason.NEW
    elif previous.outcome != decision.outcome:
        reason = ChangeReason.OUTCOME_CHANGED
    elif previous.to_collect != decision.facts_to_collect:
        reason = ChangeReason.FACTS_CHANGED
    elif previous.tier is not None and previous.tier != decision.tier:
        reason = ChangeReason.TIER_CHANGED
    else:
        return None
    return Change(program_id, decision.outcome, was, reason, decision)


def _revoked(program_id: str, previous: Outcome, reason: ChangeReason) -> Change:
    return Change(program_id, Outcome.REVOKED, previous, reason, None)


def _stored(decision: MatchDecided, version: str) -> StoredDecision:
    return StoredDecision(
        outcome=decision.outcome,
        tier=decision.tier,
        to_collect=list(decision.facts_to_collect),
        matched_on=matched_on(decision),
        program_version=version,
    )


def matched_on(decision: MatchDecided) -> list[str]:
    """Ids of the met inclusion criteria that define the program (its tiers' basis)."""
    return [
        r.criterion_id
        for r in decision.criteria
        if r.section == "inclusion" and r.status is CriterionStatus.MET and r.defining
    ]


def _first_failing(criteria: list[CriterionResult]) -> str | None:
    """An inclusion not met, or an exclusion that applies: what made the case ineligible."""
    for result in criteria:
        fails_inclusion = result.section == "inclusion" and result.status is CriterionStatus.NOT_MET
        fails_exclusion = result.section == "exclusion" and result.status is CriterionStatus.MET
        if fails_inclusion or fails_exclusion:
            return result.criterion_id
    return None
