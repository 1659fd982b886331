"""Match events: one eligibility decision for one case and one program."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from rarematch.common.contracts.case import CaseId

__all__ = ["CriterionResult", "CriterionStatus", "MatchDecided", "Outcome"]


class Outcome(StrEnum):
    ELIGIBLE = "eligible"
    NEEDS_INFO = "needs_info"
    INELIGIBLE = "ineligible"
    REVOKED = "revoked"


class CriterionStatus(StrEnum):
    MET = "met"
    NOT_MET = "not_met"
    UNKNOWN = "unknown"


class CriterionResult(BaseModel):
    """What one criterion said about the case, with the value it looked at."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    criterion_id: str
    section: Literal["inclusion", "exclusion"]
    status: CriterionStatus = Field(
        description="For an exclusion, `met` means the exclusion applies (the case is excluded)."
    )
    text: str = Field(description="The protocol's own wording")
    observed: str | None = Field(
        default=None, description="The case value the criterion looked at; null when not reported"
    )


class MatchDecided(BaseModel):
    """Body of `match.decided`: only what a coordinator needs, never the case itself."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    case_id: CaseId
    program_id: str
    program_title: str
    routes: list[str] = Field(
        default_factory=list, description="Coordinator routes named by the program file"
    )
    program_area: str | None = Field(
        default=None, description="The program's area, for routing fallbacks"
    )
    site_countries: list[str] = Field(
        default_factory=list, description="Countries of the program's sites, for routing"
    )
    outcome: Outcome
    criteria: list[CriterionResult]
    facts_to_collect: list[str] = Field(
        default_factory=list, description="For `needs_info`: the data still missing"
    )
    rules_version: str = Field(description="Content hash of the rule set that decided")
    decided_at: AwareDatetime
