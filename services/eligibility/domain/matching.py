"""One case through the rules and its decision state: the changes to publish, the next state.

The service, the re-match after a reload and `rules impact` all run these, so what the impact
preview predicts is what the service publishes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from rarematch.common.contracts import Case, MatchDecided
from rarematch.eligibility.domain.evaluate import (
    CompiledRules,
    decide_programs,
    publishable_decisions,
)
from rarematch.eligibility.domain.lifecycle import (
    Catalogue,
    Change,
    DecisionState,
    changes_for,
)

__all__ = ["changes_on_case", "changes_on_rematch"]


def changes_on_case(
    case: Case, state: DecisionState, rules: CompiledRules, catalogue: Catalogue, now: datetime
) -> tuple[list[Change], DecisionState]:
    """A submitted or updated case against every program.

    The gated path decides what is open; a program open in `state` that is no longer is then
    decided in full, so its revocation names the criterion the case now fails.
    Raises EngineError when the engine refuses the case."""
    decided: dict[str, MatchDecided] = {
        d.program_id: d for d in publishable_decisions(case, rules, now)
    }
    dropped = [pid for pid in state.open if pid not in decided and pid in catalogue.versions]
    decided.update((d.program_id, d) for d in decide_programs(case, dropped, rules, now))
    return changes_for(state, decided, catalogue)


def changes_on_rematch(
    case: Case,
    state: DecisionState,
    rules: CompiledRules,
    catalogue: Catalogue,
    programs: Iterable[str],
    now: datetime,
) -> tuple[list[Change], DecisionState]:
    """A case whose other programs are up to date, against the `programs` that changed; open
    decisions of programs that closed or went away are revoked."""
    wanted = [pid for pid in programs if pid in catalogue.versions]
    decided = {d.program_id: d for d in decide_programs(case, wanted, rules, now)}
    return changes_for(state, decided, catalogue)
