"""Event contracts shared by intake, eligibility and notifier: bodies and event types."""

from rarematch.common.contracts.case import Case, CaseWithdrawn
from rarematch.common.contracts.match import (
    ChangeReason,
    CriterionResult,
    CriterionStatus,
    MatchDecided,
    Outcome,
)

CASE_SUBMITTED = "rarematch.case.submitted"
CASE_UPDATED = "rarematch.case.updated"
CASE_WITHDRAWN = "rarematch.case.withdrawn"
MATCH_DECIDED = "rarematch.match.decided"

EVENT_BODIES: dict[str, type[Case] | type[CaseWithdrawn] | type[MatchDecided]] = {
    CASE_SUBMITTED: Case,
    CASE_UPDATED: Case,
    CASE_WITHDRAWN: CaseWithdrawn,
    MATCH_DECIDED: MatchDecided,
}
"""CloudEvents `type` -> pydantic model of its JSON body (`data`)."""

__all__ = [
    "CASE_SUBMITTED",
    "CASE_UPDATED",
    "CASE_WITHDRAWN",
    "EVENT_BODIES",
    "MATCH_DECIDED",
    "Case",
    "CaseWithdrawn",
    "ChangeReason",
    "CriterionResult",
    "CriterionStatus",
    "MatchDecided",
    "Outcome",
]
