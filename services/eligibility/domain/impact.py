"""Impact preview: what a proposed rule set would publish for the active cases, per program.

For each case, the decisions the service publishes under the base rules become the decision
state it would have stored (lifecycle's `changes_for` from an empty state, with each
program's version); the proposed rules then decide the case and `changes_for` against that
state, with the proposed catalogue, gives exactly the changes the service would publish after
the reload — programs removed or closed in the proposal show as revoked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from rarematch.common.contracts import Case, Outcome
from rarematch.eligibility.domain.engine import EngineError
from rarematch.eligibility.domain.evaluate import CompiledRules, publishable_decisions
from rarematch.eligibility.domain.lifecycle import (
    Catalogue,
    Change,
    ChangeReason,
    DecisionState,
    changes_for,
)
from rarematch.eligibility.domain.matching import changes_on_rematch

__all__ = [
    "CaseImpact",
    "Impact",
    "ProgramImpact",
    "ProgramStatus",
    "case_impact",
    "impact",
    "stored_state",
]

ProgramStatus = Literal["added", "reopened", "edited", "same", "closed", "removed", "closed_both"]
"""How a program differs between the rule sets (`closed_both`: closed in both)."""


@dataclass(frozen=True)
class CaseImpact:
    """One case: its changes under the proposed rules, and the open decisions that stay."""

    case_id: str
    changes: list[Change]
    unchanged: list[str]
    """Program ids open for the case under both rule sets, with the same outcome and facts."""


@dataclass
class ProgramImpact:
    """Per program, the case ids in each category (ids only, never case content)."""

    program_id: str
    status: ProgramStatus
    newly_eligible: list[str] = field(default_factory=list)
    newly_needs_info: list[str] = field(default_factory=list)
    revoked: list[tuple[str, Change]] = field(default_factory=list)
    changed: list[tuple[str, Change]] = field(default_factory=list)
    """(case id, change): a changed outcome or changed facts to collect."""
    unchanged: list[str] = field(default_factory=list)

    @property
    def changes(self) -> int:
        new = len(self.newly_eligible) + len(self.newly_needs_info)
        return new + len(self.revoked) + len(self.changed)


@dataclass(frozen=True)
class Impact:
    programs: list[ProgramImpact]
    """Every program of either rule set: base catalogue order, then programs only proposed."""
    cases: int
    rejected: list[tuple[str, str]]
    """(case id, why) for cases the engine refused: the service dead-letters them."""

    @property
    def changes(self) -> int:
        return sum(p.changes for p in self.programs)


def stored_state(case: Case, rules: CompiledRules, now: datetime) -> DecisionState:
    """The decision state the service stores for `case` after publishing under `rules`."""
    decided = {d.program_id: d for d in publishable_decisions(case, rules, now)}
    empty = DecisionState(case_id=case.case_id)
    _, state = changes_for(empty, decided, Catalogue.of(rules.programs))
    return state


def case_impact(
    case: Case, base: CompiledRules, proposed: CompiledRules, now: datetime
) -> CaseImpact:
    """The changes the service would publish for `case` when `proposed` replaces `base`: the
    re-match of the programs whose content changed, as the service runs it after a reload.

    Raises EngineError when the engine refuses the case (the service dead-letters it)."""
    state = stored_state(case, base, now)
    before, after_catalogue = Catalogue.of(base.programs), Catalogue.of(proposed.programs)
    programs = sorted(after_catalogue.changed_since(before), key=proposed.position.__getitem__)
    changes, after = changes_on_rematch(case, state, proposed, after_catalogue, programs, now)
    changed = {c.program_id for c in changes}
    unchanged = [pid for pid in state.open if pid in after.open and pid not in changed]
    return CaseImpact(case.case_id, changes, unchanged)


def impact(
    cases: Iterable[Case], base: CompiledRules, proposed: CompiledRules, now: datetime
) -> Impact:
    """Per program of either rule set, which cases change and how, over all `cases`."""
    programs = {
        pid: ProgramImpact(pid, status) for pid, status in _statuses(base, proposed).items()
    }
    count, rejected = 0, []
    for case in cases:
        count += 1
        try:
            result = case_impact(case, base, proposed, now)
        except EngineError as error:
            rejected.append((case.case_id, str(error)))
            continue
        for change in result.changes:
            _add(programs[change.program_id], result.case_id, change)
        for program_id in result.unchanged:
            programs[program_id].unchanged.append(result.case_id)
    return Impact(list(programs.values()), count, rejected)


def _add(program: ProgramImpact, case_id: str, change: Change) -> None:
    if change.outcome is Outcome.REVOKED:
        program.revoked.append((case_id, change))
    elif change.reason is ChangeReason.NEW and change.outcome is Outcome.ELIGIBLE:
        program.newly_eligible.append(case_id)
    elif change.reason is ChangeReason.NEW:
        program.newly_needs_info.append(case_id)
    else:
        program.changed.append((case_id, change))


def _statuses(base: CompiledRules, proposed: CompiledRules) -> dict[str, ProgramStatus]:
    before, after = Catalogue.of(base.programs), Catalogue.of(proposed.programs)
    order = [p.id for p in base.programs] + [
        p.id for p in proposed.programs if p.id not in base.position
    ]
    statuses: dict[str, ProgramStatus] = {}
    for pid in order:
        if pid in after.versions:
            if pid in before.versions:
                same = before.versions[pid] == after.versions[pid]
                statuses[pid] = "same" if same else "edited"
            else:
                statuses[pid] = "reopened" if pid in before.closed else "added"
        elif pid in after.closed:
            statuses[pid] = "closed_both" if pid in before.closed else "closed"
        else:
            statuses[pid] = "removed"
    return statuses
