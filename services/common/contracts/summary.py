"""Case summaries: one case's open decisions by tier and the next tests, the coordinators'
worklist (compacted topic, key = case id; a new summary only when it changes)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from rarematch.common.contracts.case import CaseId
from rarematch.common.contracts.match import Tier

__all__ = ["CaseSummary", "NextTest", "SummaryProgram", "TierCounts"]

_NAME = 200
_TITLE = 500
_TEXT = 4_000
_ITEMS = 1_000

Name = Annotated[str, Field(max_length=_NAME)]
Fact = Annotated[str, Field(max_length=_TITLE)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SummaryProgram(_Model):
    """One open decision of the case: its tier, why, and what would settle it."""

    program_id: Name
    program_title: str = Field(max_length=_TITLE)
    tier: Tier
    routes: list[Name] = Field(default_factory=list, max_length=_ITEMS)
    program_area: Name | None = None
    site_countries: list[Name] = Field(default_factory=list, max_length=_ITEMS)
    reasons: list[Annotated[str, Field(max_length=_TEXT)]] = Field(
        default_factory=list,
        max_length=_ITEMS,
        description="The protocol's wording of the defining criteria the case meets",
    )
    to_collect: list[Fact] = Field(
        default_factory=list, max_length=_ITEMS, description="Facts still missing"
    )


class NextTest(_Model):
    """A fact to collect, and the open programs it would settle (each lists it)."""

    fact: Fact
    settles: int = Field(ge=1, description="How many of the case's programs need it")
    programs: list[Name] = Field(max_length=_ITEMS, description="Best tier first")


class TierCounts(_Model):
    eligible: int = Field(default=0, ge=0)
    likely: int = Field(default=0, ge=0)
    possible: int = Field(default=0, ge=0)


class CaseSummary(_Model):
    """Body of `case.summarized`: never the case itself, only its decisions."""

    case_id: CaseId
    withdrawn: bool = Field(default=False, description="The case left: nothing is open")
    counts: TierCounts
    programs: list[SummaryProgram] = Field(
        max_length=_ITEMS, description="Eligible, then likely, then possible; by program id"
    )
    next_tests: list[NextTest] = Field(
        default_factory=list,
        max_length=_ITEMS,
        description="Facts to collect across the programs, the one settling most first",
    )
    rules_version: str = Field(max_length=_NAME)
    summarized_at: AwareDatetime
