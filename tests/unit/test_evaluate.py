"""Decisions per case x program: roll-up, facts to collect, the sample cases on the real rules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rarematch.common.contracts import Case, CriterionResult, CriterionStatus, Outcome, Tier
from rarematch.eligibility.domain.criteria import Program
from rarematch.eligibility.domain.engine import EngineError
from rarematch.eligibility.domain.evaluate import (
    CompiledRules,
    compile_rules,
    decide,
    decide_program,
    evaluate,
    publishable_decisions,
    roll_up,
)
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from rarematch.eligibility.rulebook.store import load_rules
from tests.builders import make_case
from tests.unit.engine_harness import run_isolated

REPO = Path(__file__).resolve().parents[2]
RULES_DIR = REPO / "rules"
CASES_DIR = REPO / "examples" / "cases"
NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def program(
    program_id: str,
    inclusion: list[dict[str, Any]],
    exclusion: list[dict[str, Any]] | None = None,
    status: str = "recruiting",
) -> Program:
    """A program whose first criterion is `adult` (age >= 18), then `inclusion`."""
    criteria = [{"id": "adult", "text": "Age 18 or older", "age": {"min_years": 18}}, *inclusion]
    return Program.model_validate(
        {
            "id": program_id,
            "title": f"Program {program_id}",
            "area": "other",
            "modality": "CAR-T",
            "status": status,
            "notify": ["route-a", "route-b"],
            "source": "test",
            "transcribed": "2026-11-27",
            "inclusion": criteria,
            "exclusion": exclusion or [],
        }
    )


def criterion(criterion_id: str, check: dict[str, Any]) -> dict[str, Any]:
    return {"id": criterion_id, "text": f"text of {criterion_id}", **check}


@pytest.fixture(scope="module")
def real_rules() -> Iterator[CompiledRules]:
    rules = load_rules(RULES_DIR, bundled_oncotree())
    yield rules
    rules.engine.close()


@pytest.fixture
def compile_programs() -> Iterator[Any]:
    made: list[CompiledRules] = []

    def compile_(*programs: Program, version: str = "sha256:test") -> CompiledRules:
        rules = compile_rules(programs, version, bundled_oncotree())
        made.append(rules)
        return rules

    yield compile_
    for rules in made:
        rules.engine.close()


def outcomes(case: Case, rules: CompiledRules) -> dict[str, Outcome]:
    return {d.program_id: d.outcome for d in evaluate(case, rules, NOW)}


def sample(name: str) -> Case:
    return Case.model_validate_json((CASES_DIR / f"{name}.json").read_text())


# --- roll-up -----------------------------------------------------------------------------------


def result(section: str, status: str, criterion_id: str = "c") -> CriterionResult:
    return CriterionResult(
        criterion_id=criterion_id,
        section=section,  # type: ignore[arg-type]
        status=CriterionStatus(status),
        text="t",
    )


@pytest.mark.parametrize(
    ("results", "outcome"),
    [
        ([("inclusion", "met"), ("inclusion", "met")], Outcome.ELIGIBLE),
        ([("inclusion", "met"), ("exclusion", "not_met")], Outcome.ELIGIBLE),
        ([("inclusion", "met"), ("inclusion", "unknown")], Outcome.NEEDS_INFO),
        ([("inclusion", "met"), ("exclusion", "unknown")], Outcome.NEEDS_INFO),
        ([("inclusion", "unknown"), ("inclusion", "not_met")], Outcome.INELIGIBLE),
        ([("inclusion", "not_met"), ("inclusion", "unknown")], Outcome.INELIGIBLE),
        ([("inclusion", "met"), ("exclusion", "met")], Outcome.INELIGIBLE),
        ([("inclusion", "unknown"), ("exclusion", "met")], Outcome.INELIGIBLE),
    ],
)
def test_roll_up(results: list[tuple[str, str]], outcome: Outcome) -> None:
    assert roll_up([result(s, st, f"c{i}") for i, (s, st) in enumerate(results)]) is outcome


class TestDecide:
    def test_needs_info_lists_only_the_unknown_criteria_facts(self, compile_programs: Any) -> None:
        p = program(
            "P-1",
            [
                criterion("cd7", {"antigen": {"name": "CD7", "min_percent": 70}}),
                criterion("hla", {"hla": {"allele": "A*02:01"}}),
                criterion("dx", {"diagnosis": {"oncotree": ["TLL"]}}),
            ],
        )
        rules = compile_programs(p)
        case = make_case(diagnosis={"oncotree_code": "TLL"})
        fired = ["inclusion/adult/met", "inclusion/dx/met"]
        decision = decide(case, p, fired, rules, NOW)
        assert decision.outcome is Outcome.NEEDS_INFO
        assert decision.facts_to_collect == [
            "CD7 expression (% of cells)",
            "HLA-A typing at A*02:01 resolution",
        ]
        assert [(c.criterion_id, c.status.value) for c in decision.criteria] == [
            ("adult", "met"),
            ("cd7", "unknown"),
            ("hla", "unknown"),
            ("dx", "met"),
        ]

    def test_ineligible_lists_nothing_to_collect(self, compile_programs: Any) -> None:
        p = program("P-1", [criterion("hla", {"hla": {"allele": "A*02:01"}})])
        rules = compile_programs(p)
        decision = decide(make_case(), p, ["inclusion/adult/not_met"], rules, NOW)
        assert decision.outcome is Outcome.INELIGIBLE
        assert decision.facts_to_collect == []

    def test_decision_carries_program_routes_version_and_time(self, compile_programs: Any) -> None:
        p = program("P-1", [])
        rules = compile_programs(p, version="sha256:abc")
        decision = decide(make_case(), p, ["inclusion/adult/met"], rules, NOW)
        assert decision.model_dump(exclude={"criteria"}) == {
            "case_id": "case-test-0001",
            "program_id": "P-1",
            "program_title": "Program P-1",
            "routes": ["route-a", "route-b"],
            "program_area": p.area,
            "site_countries": sorted({site.country for site in p.sites}),
            "outcome": Outcome.ELIGIBLE,
            "tier": Tier.ELIGIBLE,
            "facts_to_collect": [],
            "rules_version": "sha256:abc",
            "decided_at": NOW,
            "change": "new",
            "previous_outcome": None,
            "failing_criterion": None,
            "program_version": "",
        }

    def test_a_criterion_both_met_and_not_met_is_an_engine_error(
        self, compile_programs: Any
    ) -> None:
        p = program("P-1", [])
        rules = compile_programs(p)
        fired = ["inclusion/adult/met", "inclusion/adult/not_met"]
        with pytest.raises(EngineError, match="inclusion/adult is both met and not met"):
            decide(make_case(), p, fired, rules, NOW)

    def test_a_rule_the_program_does_not_have_is_an_engine_error(
        self, compile_programs: Any
    ) -> None:
        p = program("P-1", [])
        rules = compile_programs(p)
        with pytest.raises(EngineError, match="unknown rule inclusion/other/met"):
            decide(make_case(), p, ["inclusion/other/met"], rules, NOW)


class TestEvaluate:
    def test_exclusion_met_means_ineligible(self, compile_programs: Any) -> None:
        p = program("P-1", [], exclusion=[criterion("a0205", {"hla": {"allele": "A*02:05"}})])
        rules = compile_programs(p)
        assert outcomes(make_case(hla_alleles=["A*02:05"]), rules) == {"P-1": Outcome.INELIGIBLE}
        assert outcomes(make_case(hla_alleles=["A*02:01"]), rules) == {"P-1": Outcome.ELIGIBLE}
        assert outcomes(make_case(hla_alleles=["A*02"]), rules) == {"P-1": Outcome.NEEDS_INFO}

    def test_definite_failure_outranks_unknown(self, compile_programs: Any) -> None:
        p = program("P-1", [criterion("gd2", {"antigen": {"name": "GD2"}})])
        rules = compile_programs(p)
        [decision] = evaluate(make_case(age={"years": 10}), rules, NOW)
        assert decision.outcome is Outcome.INELIGIBLE
        assert decision.facts_to_collect == []
        assert {c.criterion_id: c.status for c in decision.criteria} == {
            "adult": CriterionStatus.NOT_MET,
            "gd2": CriterionStatus.UNKNOWN,
        }

    def test_eligible_lists_nothing_to_collect(self, compile_programs: Any) -> None:
        p = program("P-1", [criterion("gd2", {"antigen": {"name": "GD2"}})])
        rules = compile_programs(p)
        case = make_case(biomarkers={"antigens": [{"antigen": "GD2", "status": "positive"}]})
        [decision] = evaluate(case, rules, NOW)
        assert (decision.outcome, decision.facts_to_collect) == (Outcome.ELIGIBLE, [])

    def test_closed_programs_are_skipped_in_catalogue_order(self, compile_programs: Any) -> None:
        rules = compile_programs(
            program("P-1", []),
            program("P-2", [], status="closed"),
            program("P-3", [], status="suspended"),
            program("P-0", []),
        )
        assert [d.program_id for d in evaluate(make_case(), rules, NOW)] == ["P-1", "P-3", "P-0"]

    def test_every_decision_names_the_rules_version(self, real_rules: CompiledRules) -> None:
        decisions = evaluate(sample("sarcoma-synovial-hla-a0201"), real_rules, NOW)
        assert real_rules.version.startswith("sha256:")
        assert {d.rules_version for d in decisions} == {real_rules.version}
        assert {d.decided_at for d in decisions} == {NOW}

    def test_evaluation_is_a_pure_function_of_case_and_rules(
        self, real_rules: CompiledRules
    ) -> None:
        case = sample("basket-lung-kras-g12c")
        first = evaluate(case, real_rules, NOW)
        evaluate(sample("paediatric-neuroblastoma-gd2"), real_rules, NOW)
        assert evaluate(case, real_rules, NOW) == first


# --- the sample cases against the real rules/ --------------------------------------------------

E, N, X = Outcome.ELIGIBLE, Outcome.NEEDS_INFO, Outcome.INELIGIBLE  # X: ineligible
PROGRAMS = (
    "NCT02576431",
    "NCT03373097",
    "NCT03600883",
    "NCT04044768",
    "NCT05078866",
    "NCT05909527",
    "NCT06684639",
    "TECELRA-US",
)
EXPECTED = {
    # Each program decided on its own, open or closed (closed ones are never published).
    #                                      NAVIGATE GD2-01 CodeBreaK afami Nous CD7 GD2-WTC Tecelra
    "sarcoma-synovial-hla-a0201": (N, X, N, E, N, X, X, E),
    "paediatric-neuroblastoma-gd2": (X, E, X, X, X, X, N, X),
    "haematologic-t-all-cd7-unquantified": (X, X, X, X, X, N, X, X),
    "basket-lung-kras-g12c": (X, X, E, X, N, X, X, X),
    "basket-salivary-etv6-ntrk3": (E, X, N, X, N, X, X, X),
    "hereditary-lynch-endometrial": (N, X, N, X, E, X, X, X),
}


def test_every_sample_case_is_covered() -> None:
    assert {p.stem for p in CASES_DIR.glob("*.json")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_case_outcomes(name: str, real_rules: CompiledRules) -> None:
    case = sample(name)
    every = {p: decision_for(case, p, real_rules).outcome for p in PROGRAMS}
    assert every == dict(zip(PROGRAMS, EXPECTED[name], strict=True))


def decision_for(case: Case, program_id: str, rules: CompiledRules) -> Any:
    """The program's decision whatever its status: these tests are about its criteria."""
    return decide_program(case, rules.compiled[program_id].program, rules, NOW)


def test_closed_programs_are_not_published_for_the_sample_cases(
    real_rules: CompiledRules,
) -> None:
    closed = {p.id for p in real_rules.programs if p.status == "closed"}
    assert {"NCT03373097", "NCT03600883", "NCT04044768"} <= closed
    for name in EXPECTED:
        assert not closed & {d.program_id for d in evaluate(sample(name), real_rules, NOW)}


def test_synovial_sarcoma_a0201_is_eligible_for_afami_cel(real_rules: CompiledRules) -> None:
    decision = decision_for(sample("sarcoma-synovial-hla-a0201"), "TECELRA-US", real_rules)
    assert decision.outcome is Outcome.ELIGIBLE
    assert [(c.criterion_id, c.section, c.status.value, c.observed) for c in decision.criteria] == [
        ("age", "inclusion", "met", "34 years"),
        ("diagnosis", "inclusion", "met", "SYNS"),
        ("extent", "inclusion", "met", "metastatic"),
        ("prior-chemotherapy", "inclusion", "met", "anthracycline, ifosfamide"),
        ("hla", "inclusion", "met", "A*02:01"),
        ("mage-a4", "inclusion", "met", "MAGE-A4 positive 60% 3+"),
        ("hla-a0205", "exclusion", "not_met", None),
    ]
    assert decision.routes == ["sarcoma-cell-therapy"]


def test_t_all_without_cd7_percentage_needs_it(real_rules: CompiledRules) -> None:
    case = sample("haematologic-t-all-cd7-unquantified")
    decision = decision_for(case, "NCT05909527", real_rules)
    assert decision.outcome is Outcome.NEEDS_INFO
    assert decision.facts_to_collect == ["CD7 expression (% of cells)"]
    assert [c.observed for c in decision.criteria if c.criterion_id == "cd7"] == ["CD7 positive"]


def test_paediatric_age_in_months(real_rules: CompiledRules) -> None:
    case = sample("paediatric-neuroblastoma-gd2")
    assert case.age is not None
    assert case.age.in_months == 62
    decision = decision_for(case, "NCT03373097", real_rules)
    assert decision.outcome is Outcome.ELIGIBLE


def test_kras_g12c_lung_is_ineligible_for_navigate_after_comprehensive_profiling(
    real_rules: CompiledRules,
) -> None:
    decision = decision_for(sample("basket-lung-kras-g12c"), "NCT02576431", real_rules)
    assert decision.outcome is Outcome.INELIGIBLE
    assert {c.criterion_id: c.status.value for c in decision.criteria}["ntrk-fusion"] == "not_met"


def test_ntrk_fusion_without_profiling_needs_kras_status(real_rules: CompiledRules) -> None:
    decision = decision_for(sample("basket-salivary-etv6-ntrk3"), "NCT03600883", real_rules)
    assert decision.outcome is Outcome.NEEDS_INFO
    assert decision.facts_to_collect == ["somatic KRAS status (or comprehensive genomic profiling)"]


def test_age_bound_is_inclusive_through_the_whole_last_year(real_rules: CompiledRules) -> None:
    base = json.loads((CASES_DIR / "paediatric-neuroblastoma-gd2.json").read_text())
    for age, outcome in [
        ({"years": 25, "months": 311}, Outcome.ELIGIBLE),
        ({"years": 26, "months": 312}, Outcome.INELIGIBLE),
        ({"months": 12}, Outcome.ELIGIBLE),
        ({"months": 11}, Outcome.INELIGIBLE),
    ]:
        case = Case.model_validate({**base, "age": age})
        assert decision_for(case, "NCT03373097", real_rules).outcome is outcome, age


def variant_of(name: str, **changes: Any) -> Case:
    return Case.model_validate({**json.loads((CASES_DIR / f"{name}.json").read_text()), **changes})


@pytest.mark.parametrize(
    ("case", "program_id", "outcome"),
    [
        pytest.param(
            variant_of("sarcoma-synovial-hla-a0201", hla_alleles=["A*02:01", "A*02:06"]),
            "NCT04044768",
            Outcome.ELIGIBLE,
            id="heterozygous-A0201-A0206",
        ),
        pytest.param(
            variant_of(
                "basket-lung-kras-g12c",
                biomarkers={
                    "comprehensive_genomic_profiling": True,
                    "somatic_variants": [{"gene": "KRAS", "protein_change": "p.G12D"}],
                },
            ),
            "NCT03600883",
            Outcome.INELIGIBLE,
            id="kras-g12d-with-cgp",
        ),
        pytest.param(
            variant_of(
                "hereditary-lynch-endometrial",
                biomarkers={"germline_findings": [{"gene": "MSH2"}, {"gene": "MLH1"}]},
            ),
            "NCT05078866",
            Outcome.ELIGIBLE,
            id="two-lynch-genes",
        ),
        pytest.param(
            variant_of(
                "basket-salivary-etv6-ntrk3",
                biomarkers={
                    "fusions": [{"gene_5p": "ETV6", "gene_3p": "NTRK3"}, {"gene_3p": "NTRK1"}]
                },
            ),
            "NCT02576431",
            Outcome.ELIGIBLE,
            id="two-ntrk-fusions",
        ),
    ],
)
def test_criteria_matching_on_several_branches(
    case: Case, program_id: str, outcome: Outcome, real_rules: CompiledRules
) -> None:
    assert decision_for(case, program_id, real_rules).outcome is outcome


@pytest.mark.parametrize(
    ("msi", "mmr", "outcome"),
    [("MSS", "proficient", Outcome.INELIGIBLE), ("MSI-H", "deficient", Outcome.ELIGIBLE)],
)
def test_msi_and_mmr_both_reported(
    msi: str, mmr: str, outcome: Outcome, compile_programs: Any
) -> None:
    rules = compile_programs(program("P-1", [criterion("mmr", {"mismatch_repair": {}})]))
    case = make_case(biomarkers={"msi_status": msi, "mmr_status": mmr})
    assert outcomes(case, rules) == {"P-1": outcome}


def test_a_case_reporting_nothing_needs_info_everywhere() -> None:
    """Regression (run apart: it used to crash the interpreter): missing is never not met."""
    code = """
        from datetime import UTC, datetime
        from pathlib import Path
        from rarematch.eligibility.domain.evaluate import evaluate
        from rarematch.eligibility.domain.oncotree import bundled_oncotree
        from rarematch.eligibility.rulebook.store import load_rules
        from rarematch.common.contracts import Case
        rules = load_rules(Path("rules"), bundled_oncotree())
        for d in evaluate(Case(case_id="bare"), rules, datetime.now(UTC)):
            print(d.program_id, d.outcome.value)
    """
    result = run_isolated(code)
    assert result.returncode == 0, result.stderr[-400:]
    lines = result.stdout.split("\n")[:-1]
    rules = load_rules(RULES_DIR, bundled_oncotree())
    try:
        open_programs = {p.id for p in rules.programs if p.status != "closed"}
    finally:
        rules.engine.close()
    assert {line.split()[0] for line in lines} == open_programs
    assert all(line.endswith(" needs_info") for line in lines), lines


@pytest.mark.parametrize(
    ("tmb", "outcome"), [(1e-05, Outcome.INELIGIBLE), (1e16, Outcome.ELIGIBLE)]
)
def test_values_json_would_write_in_exponent_form_are_decided(
    tmb: float, outcome: Outcome, compile_programs: Any
) -> None:
    """Regression: 1e-05 or 1e+16 in the fact made durable-rules refuse it (error 204)."""
    rules = compile_programs(program("P-1", [criterion("tmb", {"tmb": {"min": 10}})]))
    case = make_case(biomarkers={"tmb_mut_per_mb": tmb})
    assert outcomes(case, rules) == {"P-1": outcome}
    assert [d.outcome for d in publishable_decisions(case, rules, NOW)] == [
        o for o in [outcome] if o is not Outcome.INELIGIBLE
    ]


def test_a_large_germline_panel_is_decided(real_rules: CompiledRules) -> None:
    """Regression: 400 tested genes made the fact too large for the engine (error 302)."""
    panel = ["BRCA1", "BRCA2", "TP53", "MLH1", *(f"GENE{n}" for n in range(400))]
    case = variant_of(
        "hereditary-lynch-endometrial",
        biomarkers={"germline_findings": [{"gene": "MLH1"}], "germline_genes_tested": panel},
    )
    full = [d for d in evaluate(case, real_rules, NOW) if d.outcome is not Outcome.INELIGIBLE]
    assert ("NCT05078866", Outcome.ELIGIBLE) in [(d.program_id, d.outcome) for d in full]
    assert publishable_decisions(case, real_rules, NOW) == full
