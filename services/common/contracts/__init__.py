"""Event contracts shared by intake, eligibility and notifier: bodies and event types."""

from rarematch.common.contracts.case import Case, CaseWithdrawn
from rarematch.common.contracts.match import (
    ChangeReason,
    CriterionResult,
    CriterionStatus,
    MatchDecided,
    Outcome,
    Tier,
)
from rarematch.common.contracts.summary import CaseSummary

CASE_SUBMITTED = "rarematch.case.submitted"
CASE_UPDATED = "rarematch.case.updated"
CASE_WITHDRAWN = "rarematch.case.withdrawn"
MATCH_DECIDED = "rarematch.match.decided"
CASE_SUMMARIZED = "rarematch.case.summarized"

EVENT_BODIES: dict[
    str, type[Case] | type[CaseWithdrawn] | type[MatchDecided] | type[CaseSummary]
] = {
    CASE_SUBMITTED: Case,
    CASE_UPDATED: Case,
    CASE_WITHDRAWN: CaseWithdrawn,
    MATCH_DECIDED: MatchDecided,
    CASE_SUMMARIZED: CaseSummary,
}
"""CloudEvents `type` -> pydantic model of its JSON body (`data`)."""

__all__ = [
    "CASE_SUBMITTED",
    "CASE_SUMMARIZED",
    "CASE_UPDATED",
    "CASE_WITHDRAWN",
    "EVENT_BODIES",
    "MATCH_DECIDED",
    "Case",
    "CaseSummary",
    "CaseWithdrawn",
    "ChangeReason",
    "CriterionResult",
    "CriterionStatus",
    "MatchDecided",
    "Outcome",
    "Tier",
]
