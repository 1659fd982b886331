"""Tiers (eligible / likely / possible) and case summaries with next tests, without Kafka."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from rarematch.common.contracts import CriterionStatus, Outcome, Tier
from rarematch.eligibility.domain.criteria import Criterion
from rarematch.eligibility.domain.evaluate import CompiledRules, compile_rules, decide_program
from rarematch.eligibility.domain.lifecycle import (
    Catalogue,
    ChangeReason,
    DecisionState,
    changes_for,
)
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from rarematch.eligibility.domain.summary import case_summary
from rarematch.eligibility.domain.verdicts import tier_of
from tests.builders import make_case
from tests.unit.test_evaluate import criterion, program

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
MET, NOT_MET, UNKNOWN = CriterionStatus.MET, CriterionStatus.NOT_MET, CriterionStatus.UNKNOWN

SYNOVIAL = criterion("dx", {"diagnosis": {"oncotree": ["SYNS"]}})
HLA = criterion("hla", {"hla": {"allele": "A*02:01"}})
BILIRUBIN = criterion("bili", {"organ_function": {"measure": "bilirubin_x_uln", "max": 1.5}})
ANC = criterion("anc", {"organ_function": {"measure": "anc_per_ul", "min": 1000}})
GERMLINE = criterion("tp53", {"germline": {"genes": ["TP53"]}})


@pytest.mark.parametrize(
    ("check", "defining"),
    [
        ({"diagnosis": {"oncotree": ["SYNS"]}}, True),
        ({"antigen": {"name": "MAGE-A4"}}, True),
        ({"hla": {"allele": "A*02:01"}}, True),
        ({"variant": {"gene": "KRAS"}}, True),
        ({"fusion": {"genes": ["NTRK1"]}}, True),
        ({"germline": {"genes": ["TP53"]}}, True),
        ({"mismatch_repair": {"msi_high_or_dmmr": True}}, True),
        ({"tmb": {"min": 10}}, True),
        ({"age": {"min_years": 18}}, False),
        ({"performance": {"scale": "ECOG", "max": 1}}, False),
        ({"organ_function": {"measure": "alt_x_uln", "max": 3}}, False),
        ({"prior_lines": {"min": 1}}, False),
        ({"any": [{"age": {"min_years": 18}}, {"hla": {"allele": "A*02"}}]}, True),
        ({"not": {"prior_therapy": {"classes": ["car_t"]}}}, False),
    ],
)
def test_a_criterion_is_defining_by_its_check_kinds(check: dict[str, Any], defining: bool) -> None:
    assert Criterion.model_validate(criterion("c", check)).is_defining is defining


def test_an_author_overrides_whether_a_criterion_is_defining() -> None:
    hla = Criterion.model_validate({**HLA, "defining": False})
    labs = Criterion.model_validate({**BILIRUBIN, "defining": True})
    assert (hla.is_defining, labs.is_defining) == (False, True)


@pytest.mark.parametrize(
    ("outcome", "statuses", "tier"),
    [
        (Outcome.ELIGIBLE, [MET, MET], Tier.ELIGIBLE),
        (Outcome.NEEDS_INFO, [MET, UNKNOWN], Tier.LIKELY),
        (Outcome.NEEDS_INFO, [UNKNOWN, MET], Tier.POSSIBLE),
        (Outcome.NEEDS_INFO, [UNKNOWN, UNKNOWN], Tier.POSSIBLE),
        (Outcome.INELIGIBLE, [NOT_MET, UNKNOWN], None),
    ],
)
def test_tier_of_a_decision(
    outcome: Outcome, statuses: list[CriterionStatus], tier: Tier | None
) -> None:
    assert tier_of(outcome, statuses, [True, False]) is tier


@pytest.fixture(scope="module")
def rules() -> Iterator[CompiledRules]:
    compiled = compile_rules(
        [
            program("P-LABS", [SYNOVIAL, HLA, BILIRUBIN, ANC]),
            program("P-HLA", [SYNOVIAL, HLA]),
            program("P-GERM", [GERMLINE, BILIRUBIN]),
            program("P-OVERRIDE", [SYNOVIAL, {**HLA, "defining": False}]),
        ],
        "sha256:tiers",
        bundled_oncotree(),
    )
    yield compiled
    compiled.engine.close()


def synovial_case(**extra: Any) -> Any:
    return make_case(
        case_id="case-tier-1",
        age={"years": 40},
        diagnosis={"oncotree_code": "SYNS"},
        **extra,
    )


def test_a_case_missing_only_labs_is_likely(rules: CompiledRules) -> None:
    case = synovial_case(hla_alleles=["A*02:01"])
    decision = decide_program(case, rules.compiled["P-LABS"].program, rules, NOW)
    assert (decision.outcome, decision.tier) == (Outcome.NEEDS_INFO, Tier.LIKELY)
    defining = {c.criterion_id for c in decision.criteria if c.defining}
    assert defining == {"dx", "hla"}


def test_an_unknown_defining_criterion_makes_a_match_possible(rules: CompiledRules) -> None:
    case = synovial_case()  # no HLA typing, no germline testing
    tiers = {
        pid: decide_program(case, rules.compiled[pid].program, rules, NOW).tier
        for pid in ("P-LABS", "P-HLA", "P-GERM", "P-OVERRIDE")
    }
    assert tiers == {
        "P-LABS": Tier.POSSIBLE,
        "P-HLA": Tier.POSSIBLE,
        "P-GERM": Tier.POSSIBLE,
        "P-OVERRIDE": Tier.LIKELY,  # its author said HLA does not define it
    }


def test_the_summary_ranks_next_tests_by_programs_settled(rules: CompiledRules) -> None:
    case = synovial_case()
    decided = {
        pid: decide_program(case, rules.compiled[pid].program, rules, NOW) for pid in rules.compiled
    }
    catalogue = Catalogue.of(rules.programs)
    _, state = changes_for(DecisionState(case_id=case.case_id), decided, catalogue)
    summary = case_summary(state, rules, NOW)

    # Worked by hand from the four programs above, for a synovial sarcoma with nothing else
    # reported: ties are broken by the best tier a fact settles, then by its name.
    assert [(t.fact, t.settles, t.programs) for t in summary.next_tests] == [
        ("HLA-A typing at A*02:01 resolution", 3, ["P-OVERRIDE", "P-HLA", "P-LABS"]),
        ("total bilirubin (x ULN)", 2, ["P-GERM", "P-LABS"]),
        ("absolute neutrophil count (/uL)", 1, ["P-LABS"]),
        ("germline testing of TP53", 1, ["P-GERM"]),
    ]
    assert (summary.counts.eligible, summary.counts.likely, summary.counts.possible) == (0, 1, 3)
    assert [p.program_id for p in summary.programs] == ["P-OVERRIDE", "P-GERM", "P-HLA", "P-LABS"]
    assert summary.programs[0].reasons == [SYNOVIAL["text"]]


def test_a_changed_tier_alone_is_published_as_tier_changed(rules: CompiledRules) -> None:
    case = synovial_case()
    catalogue = Catalogue.of(rules.programs)
    before = decide_program(case, rules.compiled["P-HLA"].program, rules, NOW)
    _, state = changes_for(DecisionState(case_id=case.case_id), {"P-HLA": before}, catalogue)
    retiered = before.model_copy(update={"tier": Tier.LIKELY})
    changes, after = changes_for(state, {"P-HLA": retiered}, catalogue)
    assert [c.reason for c in changes] == [ChangeReason.TIER_CHANGED]
    assert after.open["P-HLA"].tier is Tier.LIKELY
    assert changes_for(after, {"P-HLA": retiered}, catalogue)[0] == []
