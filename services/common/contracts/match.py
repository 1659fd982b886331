"""Match events: one eligibility decision for one case and one program."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from rarematch.common.contracts.case import CaseId

__all__ = [
    "OBSERVED_MAX_CHARS",
    "ChangeReason",
    "CriterionResult",
    "CriterionStatus",
    "MatchDecided",
    "Outcome",
    "Tier",
    "bounded_observed",
]

OBSERVED_MAX_CHARS = 1_000
"""The longest `observed` value; longer observations are cut (`bounded_observed`)."""
_NAME = 200  # ids, routes, areas, versions
_TITLE = 500
_TEXT = 4_000  # a protocol's own wording of one criterion
_ITEMS = 1_000  # criteria, facts to collect, routes, countries

Name = Annotated[str, Field(max_length=_NAME)]


def bounded_observed(text: str | None) -> str | None:
    """`text` cut to OBSERVED_MAX_CHARS, ending in "…" when it was cut."""
    if text is None or len(text) <= OBSERVED_MAX_CHARS:
        return text
    return text[: OBSERVED_MAX_CHARS - 1] + "…"


class Outcome(StrEnum):
    ELIGIBLE = "eligible"
    NEEDS_INFO = "needs_info"
    INELIGIBLE = "ineligible"
    REVOKED = "revoked"


class Tier(StrEnum):
    """How strongly an open decision holds, for whom to alert and when.

    `likely`: needs_info, but every *defining* criterion (diagnosis, target antigen, HLA,
    somatic alteration, germline finding, MSI/MMR/TMB, unless the program file says otherwise)
    is met and only general ones (labs, performance, history …) are unknown; `possible`: a
    defining criterion is unknown."""

    ELIGIBLE = "eligible"
    LIKELY = "likely"
    POSSIBLE = "possible"


class ChangeReason(StrEnum):
    """Why a match event was published: decisions are published only when they change."""

    NEW = "new"
    """An open decision (`eligible` / `needs_info`) where the case had none for the program."""
    OUTCOME_CHANGED = "outcome_changed"
    FACTS_CHANGED = "facts_changed"
    """Same outcome, other facts to collect."""
    TIER_CHANGED = "tier_changed"
    """Same outcome and facts to collect, another tier (a criterion's `defining` was edited)."""
    FAILS_CRITERION = "fails_criterion"
    """Revoked: the case now fails a criterion (`failing_criterion`)."""
    CASE_WITHDRAWN = "case_withdrawn"
    PROGRAM_CLOSED = "program_closed"
    PROGRAM_REMOVED = "program_removed"


class CriterionStatus(StrEnum):
    MET = "met"
    NOT_MET = "not_met"
    UNKNOWN = "unknown"


class CriterionResult(BaseModel):
    """What one criterion said about the case, with the value it looked at."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    criterion_id: str = Field(max_length=_NAME)
    section: Literal["inclusion", "exclusion"]
    status: CriterionStatus = Field(
        description="For an exclusion, `met` means the exclusion applies (the case is excluded)."
    )
    text: str = Field(max_length=_TEXT, description="The protocol's own wording")
    observed: str | None = Field(
        default=None,
        max_length=OBSERVED_MAX_CHARS,
        description="The case value the criterion looked at; null when not reported",
    )
    defining: bool | None = Field(
        default=None,
        description="True when the criterion defines who the program is for (see `tier`)",
    )


class MatchDecided(BaseModel):
    """Body of `match.decided`: only what a coordinator needs, never the case itself."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    case_id: CaseId
    program_id: str = Field(max_length=_NAME)
    program_title: str = Field(max_length=_TITLE)
    routes: list[Name] = Field(
        default_factory=list,
        max_length=_ITEMS,
        description="Coordinator routes named by the program file",
    )
    program_area: str | None = Field(
        default=None, max_length=_NAME, description="The program's area, for routing fallbacks"
    )
    site_countries: list[Name] = Field(
        default_factory=list,
        max_length=_ITEMS,
        description="Countries of the program's sites, for routing",
    )
    outcome: Outcome
    tier: Tier | None = Field(
        default=None, description="For `eligible` / `needs_info`: eligible, likely or possible"
    )
    criteria: list[CriterionResult] = Field(max_length=_ITEMS)
    facts_to_collect: list[Annotated[str, Field(max_length=_TITLE)]] = Field(
        default_factory=list,
        max_length=_ITEMS,
        description="For `needs_info`: the data still missing",
    )
    rules_version: str = Field(
        max_length=_NAME, description="Content hash of the rule set that decided"
    )
    decided_at: AwareDatetime
    change: ChangeReason = Field(
        default=ChangeReason.NEW, description="Why this decision was published"
    )
    previous_outcome: Outcome | None = Field(
        default=None,
        description="The outcome last published for this case and program; null if none",
    )
    failing_criterion: str | None = Field(
        default=None,
        max_length=_NAME,
        description="For `revoked` / `fails_criterion`: the first criterion the case now fails",
    )
    program_version: str = Field(
        default="",
        max_length=_NAME,
        description="Content hash of the program file that decided (empty when none did)",
    )
