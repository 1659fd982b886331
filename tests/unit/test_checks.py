"""Check compilation under three-valued logic, proven on the real durable-rules engine.

THE property: for every leaf check, its met / not met / unknown conditions are mutually exclusive
and exhaustive over every case (exactly one fires); compositions never fire both met and not met
and agree with Kleene logic over their children. Then the domain facts of DESIGN.md, check by
check. Rules are compiled in the production shape (see engine_harness.py).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rarematch.common.contracts import Case
from rarematch.eligibility.domain.checks import compile_check, facts_to_collect, observe
from tests.builders import make_case, random_case
from tests.strategies import cases, check_trees
from tests.unit.engine_harness import Checks, compiled, fact, node, status_of

LEAVES: list[dict[str, Any]] = [
    {"age": {"min_years": 18}},
    {"age": {"max_years": 25}},
    {"age": {"min_years": 1, "max_years": 25}},
    {"age": {"min_months": 12}},
    {"age": {"max_months": 30}},
    {"age": {"min_months": 6, "max_months": 216}},
    {"diagnosis": {"oncotree": ["SOFT_TISSUE"]}},
    {"diagnosis": {"oncotree": ["SYNS", "MRLS"]}},
    {"diagnosis": {"oncotree": ["TISSUE"], "exclude": ["LYMPH", "MYELOID"]}},
    {"antigen": {"name": "GD2"}},
    {"antigen": {"name": "HER2", "status": "negative"}},
    {"antigen": {"name": "CD7", "min_percent": 70}},
    {"antigen": {"name": "MAGE-A4", "min_percent": 30}},
    {"antigen": {"name": "5T4"}},
    {"variant": {"gene": "KRAS", "protein_change": "p.G12C"}},
    {"variant": {"gene": "KRAS"}},
    {"variant": {"gene": "TP53"}},
    {"fusion": {"genes": ["NTRK1", "NTRK2", "NTRK3"]}},
    {"fusion": {"genes": ["RET"]}},
    {"germline": {"genes": ["MLH1", "MSH2", "MSH6", "PMS2", "EPCAM"]}},
    {"germline": {"genes": ["BRCA1", "BRCA2"]}},
    {"germline": {"genes": ["TP53"]}},
    {"mismatch_repair": {"msi_high_or_dmmr": True}},
    {"hla": {"allele": "A*02"}},
    {"hla": {"allele": "A*02:01"}},
    {"hla": {"allele": "A*02:01:01"}},
    {"hla": {"allele": "A*02:05"}},
    {"hla": {"allele": "DRB1*15:01"}},
    {"hla": {"allele": "A*02:01P"}},
    {"hla": {"allele": "A*02:01:01G"}},
    {"hla": {"allele": "A2"}},
    {"hla": {"allele": "A9"}},
    {"sex": {"is": ["female"]}},
    {"country": {"countries": ["GB"], "regions": ["EU"]}},
    {"disease_status": {"is": ["relapsed", "refractory"]}},
    {"extent": {"is": ["metastatic"]}},
    {"cns_involvement": {"present": False}},
    {"tmb": {"min": 10}},
    {"performance": {"scale": "ECOG", "max": 1}},
    {"performance": {"scale": "Lansky", "min": 50}},
    {"prior_lines": {"min": 1, "max": 3}},
    {"prior_therapy": {"classes": ["car_t", "anti_GD2"]}},
    {"organ_function": {"measure": "creatinine_clearance_ml_min", "min": 60}},
    {"organ_function": {"measure": "bilirubin_x_uln", "max": 1.5}},
    {"antigen": {"name": "HER2", "min_intensity": "2+"}},
    {"antigen": {"name": "MAGE-A4", "min_percent": 30, "min_intensity": "2+"}},
    {"fusion": {"genes": ["NTRK3"], "partners": ["ETV6"]}},
    {"fusion": {"genes": ["EWSR1"], "partners": ["FLI1", "ERG"]}},
]
COVERAGE_CASES = 300


@pytest.fixture(scope="module")
def leaf_checks() -> Iterator[Checks]:
    """Every leaf compiled once, in the production shape; examples only evaluate."""
    with compiled([node(leaf) for leaf in LEAVES]) as checks:
        yield checks


# --- the key property --------------------------------------------------------------------------


@given(case=cases())
def test_every_leaf_fires_exactly_one_of_met_not_met_unknown(
    case: Case, leaf_checks: Checks
) -> None:
    case_fact = fact(case)
    for index, leaf in enumerate(LEAVES):
        distinct = set(leaf_checks.fired(index, case_fact))
        assert len(distinct) == 1, f"{leaf} fired {sorted(distinct)}"


def test_the_case_generator_reaches_every_outcome_of_every_leaf(leaf_checks: Checks) -> None:
    """The property above is not vacuous: generated cases meet, fail and leave open each leaf."""
    rng = random.Random(20261127)
    facts = [fact(random_case(rng, case_id=f"gen-{i}")) for i in range(COVERAGE_CASES)]
    for index, leaf in enumerate(LEAVES):
        seen = Counter(leaf_checks.status(index, case_fact) for case_fact in facts)
        assert set(seen) == {"met", "not_met", "unknown"}, (leaf, seen)


def test_unreported_everything_is_unknown_for_every_leaf(leaf_checks: Checks) -> None:
    bare = fact(Case(case_id="bare"))
    assert [leaf_checks.status(i, bare) for i in range(len(LEAVES))] == ["unknown"] * len(LEAVES)


def _kleene(operator: str, values: list[str]) -> str:
    if operator == "not":
        return {"met": "not_met", "not_met": "met", "unknown": "unknown"}[values[0]]
    if operator == "all":
        if "not_met" in values:
            return "not_met"
        return "met" if set(values) == {"met"} else "unknown"
    if "met" in values:
        return "met"
    return "not_met" if set(values) == {"not_met"} else "unknown"


def _expected(tree: dict[str, Any], leaf_status: list[str]) -> str:
    key = next(iter(tree))
    if key == "not":
        return _kleene("not", [_expected(tree["not"], leaf_status)])
    if key in ("all", "any"):
        return _kleene(key, [_expected(child, leaf_status) for child in tree[key]])
    return leaf_status[LEAVES.index(tree)]


@given(tree=check_trees(LEAVES), case_bodies=st.lists(cases(), min_size=1, max_size=8))
def test_compositions_never_fire_both_and_follow_kleene_logic(
    tree: dict[str, Any], case_bodies: list[Case], leaf_checks: Checks
) -> None:
    with compiled([node(tree)], with_unknown=False) as trees:
        for case in case_bodies:
            case_fact = fact(case)
            leaf_status = [leaf_checks.status(i, case_fact) for i in range(len(LEAVES))]
            fired = set(trees.fired(0, case_fact))
            assert fired != {"met", "not_met"}, "both met and not met"
            status = fired.pop() if fired else "unknown"
            assert status == _expected(tree, leaf_status)


def test_compositions_leave_unknown_to_the_reader() -> None:
    conditions = compile_check(node({"not": {"hla": {"allele": "A*02:05"}}}))
    leaf = compile_check(node({"hla": {"allele": "A*02:05"}}))
    assert conditions.unknown is None
    assert (conditions.met, conditions.not_met) == (leaf.not_met, leaf.met)


# --- domain facts, check by check --------------------------------------------------------------


def hla_case(*alleles: str) -> Case:
    return make_case(hla_alleles=list(alleles))


class TestHla:
    @pytest.mark.parametrize(
        ("typed", "wanted", "status"),
        [
            (["A*02:01"], "A*02:01", "met"),
            (["A*02:01"], "A*02", "met"),
            (["A*02:06"], "A*02", "met"),
            (["A*02:06"], "A*02:01", "not_met"),
            (["A*02"], "A*02:01", "unknown"),
            (["A*02"], "A*02", "met"),
            (["A*02", "A*24:02"], "A*02:01", "unknown"),
            (["A*02", "A*02:01"], "A*02:01", "met"),
            (["A*02:01:01:01"], "A*02:01", "met"),
            (["HLA-A*02:01"], "A*02:01", "met"),
            (["A*02:01"], "A*02:01:01", "unknown"),
            (["A*24:02", "A*01:01"], "A*02:01", "not_met"),
            (["A*24:02", "A*01:01"], "A*02", "not_met"),
            (["A*24"], "A*02:01", "not_met"),
            (["B*07:02"], "A*02:01", "unknown"),
            ([], "A*02:01", "unknown"),
        ],
    )
    def test_resolution_aware_matching(self, typed: list[str], wanted: str, status: str) -> None:
        assert status_of({"hla": {"allele": wanted}}, hla_case(*typed)) == status

    def test_untyped_case_is_unknown(self) -> None:
        assert status_of({"hla": {"allele": "A*02:01"}}, make_case()) == "unknown"

    def test_null_allele_does_not_satisfy_the_restriction(self) -> None:
        assert status_of({"hla": {"allele": "A*02:01"}}, hla_case("A*02:01N", "A*24:02")) != "met"


class TestDiagnosis:
    @pytest.mark.parametrize("code", ["LMS", "SYNS", "MRLS", "SOFT_TISSUE"])
    def test_soft_tissue_subtree_accepts_descendants(self, code: str) -> None:
        case = make_case(diagnosis={"oncotree_code": code})
        assert status_of({"diagnosis": {"oncotree": ["SOFT_TISSUE"]}}, case) == "met"

    @pytest.mark.parametrize("code", ["LUAD", "NBL", "TLL"])
    def test_other_lineages_do_not_match(self, code: str) -> None:
        case = make_case(diagnosis={"oncotree_code": code})
        assert status_of({"diagnosis": {"oncotree": ["SOFT_TISSUE"]}}, case) == "not_met"

    @pytest.mark.parametrize(
        ("code", "status"), [("LUAD", "met"), ("TLL", "not_met"), ("NBL", "met")]
    )
    def test_excluded_subtrees(self, code: str, status: str) -> None:
        check = {"diagnosis": {"oncotree": ["TISSUE"], "exclude": ["LYMPH", "MYELOID"]}}
        assert status_of(check, make_case(diagnosis={"oncotree_code": code})) == status

    def test_missing_diagnosis_is_unknown(self) -> None:
        assert (
            status_of({"diagnosis": {"oncotree": ["SYNS"]}}, make_case(diagnosis=None)) == "unknown"
        )


def antigen_case(*results: dict[str, Any]) -> Case:
    return make_case(biomarkers={"antigens": list(results)})


class TestAntigen:
    @pytest.mark.parametrize(
        ("result", "status"),
        [
            ({"antigen": "CD7", "status": "positive", "percent_cells": 70}, "met"),
            ({"antigen": "CD7", "status": "positive", "percent_cells": 100}, "met"),
            ({"antigen": "CD7", "status": "positive", "percent_cells": 69.9}, "not_met"),
            ({"antigen": "CD7", "status": "positive"}, "unknown"),
            ({"antigen": "CD7", "status": "negative"}, "not_met"),
            ({"antigen": "cd7", "status": "positive", "percent_cells": 95}, "met"),
            ({"antigen": "CD5", "status": "positive", "percent_cells": 95}, "unknown"),
        ],
    )
    def test_percentage_threshold_is_inclusive_and_needs_a_percentage(
        self, result: dict[str, Any], status: str
    ) -> None:
        check = {"antigen": {"name": "CD7", "status": "positive", "min_percent": 70}}
        assert status_of(check, antigen_case(result)) == status

    @pytest.mark.parametrize(
        ("status", "wanted", "verdict"),
        [
            ("positive", "positive", "met"),
            ("negative", "positive", "not_met"),
            ("negative", "negative", "met"),
            ("positive", "negative", "not_met"),
        ],
    )
    def test_status(self, status: str, wanted: str, verdict: str) -> None:
        case = antigen_case({"antigen": "NY-ESO-1", "status": status})
        assert status_of({"antigen": {"name": "NY-ESO-1", "status": wanted}}, case) == verdict

    def test_unreported_antigen_is_unknown(self) -> None:
        assert status_of({"antigen": {"name": "GD2"}}, antigen_case()) == "unknown"
        assert status_of({"antigen": {"name": "GD2"}}, make_case()) == "unknown"


def genomic_case(cgp: bool | None = None, **markers: Any) -> Case:
    if cgp is not None:
        markers["comprehensive_genomic_profiling"] = cgp
    return make_case(biomarkers=markers)


G12C = {"variant": {"gene": "KRAS", "protein_change": "p.G12C"}}


class TestVariant:
    def test_kras_g12c_matches(self) -> None:
        case = genomic_case(somatic_variants=[{"gene": "KRAS", "protein_change": "p.G12C"}])
        assert status_of(G12C, case) == "met"

    @pytest.mark.parametrize("cgp", [None, False, True])
    def test_kras_g12d_is_not_g12c(self, cgp: bool | None) -> None:
        case = genomic_case(cgp, somatic_variants=[{"gene": "KRAS", "protein_change": "p.G12D"}])
        assert status_of(G12C, case) == "not_met"

    @pytest.mark.parametrize(
        ("cgp", "variants", "status"),
        [
            (None, None, "unknown"),
            (False, None, "unknown"),
            (None, [], "unknown"),
            (None, [{"gene": "TP53", "protein_change": "p.R175H"}], "unknown"),
            (True, None, "not_met"),
            (True, [], "not_met"),
            (True, [{"gene": "TP53", "protein_change": "p.R175H"}], "not_met"),
        ],
    )
    def test_unreported_variant_is_unknown_unless_comprehensive_profiling(
        self, cgp: bool | None, variants: list[dict[str, str]] | None, status: str
    ) -> None:
        assert status_of(G12C, genomic_case(cgp, somatic_variants=variants)) == status

    @pytest.mark.parametrize("change", ["p.G12C", "p.G13D", None])
    def test_gene_level_check_matches_any_variant_in_the_gene(self, change: str | None) -> None:
        variant = {"gene": "KRAS"} | ({"protein_change": change} if change else {})
        case = genomic_case(somatic_variants=[variant])
        assert status_of({"variant": {"gene": "KRAS"}}, case) == "met"

    def test_distinct_protein_changes_do_not_collide(self) -> None:
        case = genomic_case(somatic_variants=[{"gene": "TP53", "protein_change": "p.R213="}])
        assert status_of({"variant": {"gene": "TP53", "protein_change": "p.R213*"}}, case) != "met"


NTRK = {"fusion": {"genes": ["NTRK1", "NTRK2", "NTRK3"]}}


class TestFusion:
    @pytest.mark.parametrize(
        "fusion",
        [
            {"gene_5p": "ETV6", "gene_3p": "NTRK3"},
            {"gene_5p": "TPM3", "gene_3p": "NTRK1"},
            {"gene_5p": "QKI", "gene_3p": "NTRK2"},
            {"gene_3p": "NTRK1"},
        ],
    )
    def test_ntrk_fusion_with_any_partner(self, fusion: dict[str, str]) -> None:
        assert status_of(NTRK, genomic_case(fusions=[fusion])) == "met"

    @pytest.mark.parametrize(
        ("cgp", "fusions", "status"),
        [
            (None, [{"gene_5p": "SS18", "gene_3p": "SSX1"}], "unknown"),
            (None, [], "unknown"),
            (None, None, "unknown"),
            (True, [{"gene_5p": "SS18", "gene_3p": "SSX1"}], "not_met"),
            (True, None, "not_met"),
        ],
    )
    def test_absent_fusion_is_known_only_after_comprehensive_profiling(
        self, cgp: bool | None, fusions: list[dict[str, str]] | None, status: str
    ) -> None:
        assert status_of(NTRK, genomic_case(cgp, fusions=fusions)) == status

    def test_ret_fusion(self) -> None:
        case = genomic_case(fusions=[{"gene_5p": "KIF5B", "gene_3p": "RET"}])
        assert status_of({"fusion": {"genes": ["RET"]}}, case) == "met"
        assert status_of(NTRK, case) == "unknown"


LYNCH_GENES = ["MLH1", "MSH2", "MSH6", "PMS2", "EPCAM"]
LYNCH = {"germline": {"genes": LYNCH_GENES}}


class TestGermline:
    @pytest.mark.parametrize("gene", LYNCH_GENES)
    @pytest.mark.parametrize("classification", ["pathogenic", "likely_pathogenic"])
    def test_any_lynch_gene_pathogenic_or_likely(self, gene: str, classification: str) -> None:
        case = genomic_case(germline_findings=[{"gene": gene, "classification": classification}])
        assert status_of(LYNCH, case) == "met"

    @pytest.mark.parametrize(
        ("findings", "tested", "status"),
        [
            ([{"gene": "MLH1", "classification": "vus"}], None, "unknown"),
            ([{"gene": "MLH1", "classification": "vus"}], LYNCH_GENES, "not_met"),
            ([{"gene": "BRCA1"}], None, "unknown"),
            ([], LYNCH_GENES, "not_met"),
            (None, LYNCH_GENES, "not_met"),
            (None, ["MLH1", "MSH2", "MSH6", "PMS2"], "unknown"),
            (None, [], "unknown"),
            (None, None, "unknown"),
        ],
    )
    def test_absence_needs_every_gene_tested(
        self, findings: list[dict[str, str]] | None, tested: list[str] | None, status: str
    ) -> None:
        case = genomic_case(germline_findings=findings, germline_genes_tested=tested)
        assert status_of(LYNCH, case) == status

    @pytest.mark.parametrize(("gene", "check"), [("TP53", ["TP53"]), ("BRCA2", ["BRCA1", "BRCA2"])])
    def test_li_fraumeni_and_brca(self, gene: str, check: list[str]) -> None:
        case = genomic_case(germline_findings=[{"gene": gene}])
        assert status_of({"germline": {"genes": check}}, case) == "met"


MMR = {"mismatch_repair": {"msi_high_or_dmmr": True}}


class TestMismatchRepair:
    @pytest.mark.parametrize(
        ("msi", "mmr", "status"),
        [
            ("MSI-H", None, "met"),
            (None, "deficient", "met"),
            ("MSS", "deficient", "met"),
            ("MSI-H", "proficient", "met"),
            ("MSI-H", "deficient", "met"),
            ("MSS", "proficient", "not_met"),
            ("MSI-L", "proficient", "not_met"),
            (None, None, "unknown"),
        ],
    )
    def test_msi_high_or_dmmr(self, msi: str | None, mmr: str | None, status: str) -> None:
        case = genomic_case(msi_status=msi, mmr_status=mmr)
        assert status_of(MMR, case) == status

    @pytest.mark.parametrize(("msi", "mmr"), [("MSS", None), (None, "proficient")])
    def test_one_negative_test_and_one_missing_is_unknown(
        self, msi: str | None, mmr: str | None
    ) -> None:
        assert status_of(MMR, genomic_case(msi_status=msi, mmr_status=mmr)) == "unknown"


class TestAge:
    @pytest.mark.parametrize(
        ("age", "status"),
        [
            ({"years": 25}, "met"),
            ({"years": 25, "months": 311}, "met"),  # 25 years 11 months
            ({"months": 311}, "met"),
            ({"months": 312}, "not_met"),
            ({"years": 26}, "not_met"),
            ({"years": 1}, "met"),
            ({"months": 12}, "met"),
            ({"months": 11}, "not_met"),
            ({"years": 0, "months": 11}, "not_met"),
        ],
    )
    def test_year_bounds_are_inclusive(self, age: dict[str, int], status: str) -> None:
        assert status_of({"age": {"min_years": 1, "max_years": 25}}, make_case(age=age)) == status

    @pytest.mark.parametrize(
        ("months", "status"), [(5, "not_met"), (6, "met"), (18, "met"), (19, "not_met")]
    )
    def test_month_bounds_for_children_are_inclusive(self, months: int, status: str) -> None:
        check = {"age": {"min_months": 6, "max_months": 18}}
        assert status_of(check, make_case(age={"months": months})) == status

    def test_missing_age_is_unknown(self) -> None:
        assert status_of({"age": {"min_years": 18}}, make_case(age=None)) == "unknown"

    @pytest.mark.parametrize(("years", "check"), [(1, {"min_months": 18}), (2, {"max_months": 30})])
    def test_whole_years_against_a_month_bound_inside_that_year_is_unknown(
        self, years: int, check: dict[str, int]
    ) -> None:
        assert status_of({"age": check}, make_case(age={"years": years})) == "unknown"


OTHER_CHECKS: list[tuple[dict[str, Any], dict[str, Any], str]] = [
    ({"country": {"regions": ["EU"]}}, dict(country="DE"), "met"),
    ({"country": {"regions": ["EU"]}}, dict(country="GB"), "not_met"),
    ({"country": {"regions": ["UK"]}}, dict(country="GB"), "met"),
    ({"country": {"regions": ["EEA"]}}, dict(country="NO"), "met"),
    ({"country": {"countries": ["US"]}}, dict(), "unknown"),
    (
        {"performance": {"scale": "ECOG", "max": 1}},
        dict(performance=[{"scale": "ECOG", "value": 2}]),
        "not_met",
    ),
    (
        {"performance": {"scale": "ECOG", "max": 1}},
        dict(performance=[{"scale": "ECOG", "value": 1}]),
        "met",
    ),
    (
        {"performance": {"scale": "ECOG", "max": 1}},
        dict(performance=[{"scale": "Karnofsky", "value": 90}]),
        "unknown",
    ),
    (
        {"performance": {"scale": "Lansky", "min": 50}},
        dict(performance=[{"scale": "Lansky", "value": 50}]),
        "met",
    ),
    (
        {"prior_therapy": {"classes": ["car_t"]}},
        dict(treatment_history={"prior_therapy_classes": []}),
        "not_met",
    ),
    (
        {"prior_therapy": {"classes": ["car_t"]}},
        dict(treatment_history={"prior_therapy_classes": ["CAR_T"]}),
        "met",
    ),
    (
        {"prior_therapy": {"classes": ["car_t"]}},
        dict(treatment_history={"prior_lines": 2}),
        "unknown",
    ),
    ({"prior_lines": {"max": 2}}, dict(treatment_history={"prior_lines": 2}), "met"),
    ({"prior_lines": {"max": 2}}, dict(treatment_history={"prior_lines": 3}), "not_met"),
    (
        {"antigen": {"name": "HER2", "min_intensity": "2+"}},
        dict(biomarkers={"antigens": [{"antigen": "HER2", "status": "positive"}]}),
        "unknown",
    ),
    (
        {"antigen": {"name": "HER2", "min_intensity": "2+"}},
        dict(
            biomarkers={"antigens": [{"antigen": "HER2", "status": "positive", "intensity": "1+"}]}
        ),
        "not_met",
    ),
    (
        {"antigen": {"name": "HER2", "min_intensity": "2+"}},
        dict(
            biomarkers={"antigens": [{"antigen": "HER2", "status": "positive", "intensity": "2+"}]}
        ),
        "met",
    ),
    (
        {"antigen": {"name": "HER2", "min_intensity": "2+"}},
        dict(biomarkers={"antigens": [{"antigen": "HER2", "status": "negative"}]}),
        "not_met",
    ),
    (
        {"antigen": {"name": "MAGE-A4", "min_percent": 30, "min_intensity": "2+"}},
        dict(
            biomarkers={
                "antigens": [{"antigen": "MAGE-A4", "status": "positive", "percent_cells": 10}]
            }
        ),
        "not_met",
    ),
    (
        {"antigen": {"name": "MAGE-A4", "min_percent": 30, "min_intensity": "2+"}},
        dict(
            biomarkers={
                "antigens": [{"antigen": "MAGE-A4", "status": "positive", "percent_cells": 60}]
            }
        ),
        "unknown",
    ),
    (
        {"fusion": {"genes": ["NTRK3"], "partners": ["ETV6"]}},
        dict(biomarkers={"fusions": [{"gene_5p": "ETV6", "gene_3p": "NTRK3"}]}),
        "met",
    ),
    (
        {"fusion": {"genes": ["NTRK3"], "partners": ["ETV6"]}},
        dict(biomarkers={"fusions": [{"gene_5p": "LMNA", "gene_3p": "NTRK3"}]}),
        "not_met",
    ),
    (
        {"fusion": {"genes": ["NTRK3"], "partners": ["ETV6"]}},
        dict(biomarkers={"fusions": [{"gene_3p": "NTRK3"}]}),
        "unknown",
    ),
    (
        {"fusion": {"genes": ["EWSR1"], "partners": ["FLI1"]}},
        dict(biomarkers={"fusions": [{"gene_5p": "FLI1", "gene_3p": "EWSR1"}]}),
        "met",
    ),
    (
        {"fusion": {"genes": ["EWSR1"], "partners": ["FLI1"]}},
        dict(biomarkers={"fusions": []}),
        "unknown",
    ),
    (
        {"fusion": {"genes": ["EWSR1"], "partners": ["FLI1"]}},
        dict(biomarkers={"fusions": [], "comprehensive_genomic_profiling": True}),
        "not_met",
    ),
    (
        {"cns_involvement": {"present": False}},
        dict(diagnosis={"oncotree_code": "TLL", "cns_involvement": False}),
        "met",
    ),
    (
        {"cns_involvement": {"present": False}},
        dict(diagnosis={"oncotree_code": "TLL", "cns_involvement": True}),
        "not_met",
    ),
    ({"cns_involvement": {"present": False}}, dict(), "unknown"),
    ({"tmb": {"min": 10}}, dict(biomarkers={"tmb_mut_per_mb": 10}), "met"),
    ({"tmb": {"min": 10}}, dict(biomarkers={"tmb_mut_per_mb": 9.99}), "not_met"),
    (
        {"organ_function": {"measure": "bilirubin_x_uln", "max": 1.5}},
        dict(organ_function={"bilirubin_x_uln": 1.5}),
        "met",
    ),
    (
        {"organ_function": {"measure": "bilirubin_x_uln", "max": 1.5}},
        dict(organ_function={"bilirubin_x_uln": 1.51}),
        "not_met",
    ),
    (
        {"organ_function": {"measure": "bilirubin_x_uln", "max": 1.5}},
        dict(organ_function={"alt_x_uln": 1}),
        "unknown",
    ),
    ({"sex": {"is": ["female"]}}, dict(sex="male"), "not_met"),
    (
        {"disease_status": {"is": ["relapsed", "refractory"]}},
        dict(diagnosis={"oncotree_code": "NBL", "disease_status": "newly_diagnosed"}),
        "not_met",
    ),
    (
        {"disease_status": {"is": ["relapsed", "refractory"]}},
        dict(diagnosis={"oncotree_code": "NBL", "disease_status": "refractory"}),
        "met",
    ),
    ({"disease_status": {"is": ["relapsed", "refractory"]}}, dict(), "unknown"),
]


class TestOtherChecks:
    """Demographics, disease, performance, history, organ function, intensity, fusion pairs."""

    @pytest.mark.parametrize(("check", "overrides", "status"), OTHER_CHECKS)
    def test_status(self, check: dict[str, Any], overrides: dict[str, Any], status: str) -> None:
        assert status_of(check, make_case(**overrides)) == status


# --- what a check reports ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "case", "observed"),
    [
        ({"age": {"min_years": 1}}, make_case(age={"months": 30}), "30 months"),
        ({"age": {"min_years": 1}}, make_case(age={"years": 34}), "34 years"),
        ({"diagnosis": {"oncotree": ["SYNS"]}}, make_case(), "SYNS"),
        (
            {"antigen": {"name": "MAGE-A4"}},
            antigen_case({"antigen": "MAGE-A4", "status": "positive", "percent_cells": 60}),
            "MAGE-A4 positive 60%",
        ),
        (NTRK, genomic_case(True, fusions=[]), "no fusion on comprehensive profiling"),
        (NTRK, genomic_case(fusions=[{"gene_3p": "NTRK3"}]), "?::NTRK3"),
        (LYNCH, genomic_case(germline_genes_tested=["MSH2", "MLH1"]), "tested negative: MLH1/MSH2"),
        (MMR, genomic_case(msi_status="MSI-H", mmr_status="deficient"), "MSI MSI-H, MMR deficient"),
        ({"hla": {"allele": "A*02:01"}}, hla_case("A*02:01", "B*07:02"), "A*02:01"),
        ({"hla": {"allele": "A*02:01"}}, make_case(), None),
        (
            {"any": [{"hla": {"allele": "A*02:01"}}, {"hla": {"allele": "A*02:06"}}]},
            hla_case("A*02:06"),
            "A*02:06",
        ),
        # Only the alleles that bear on the criterion, never the rest of the HLA type.
        ({"hla": {"allele": "A*02:01"}}, hla_case("A*02:01", "A*24:02", "B*07:02"), "A*02:01"),
        ({"hla": {"allele": "A*02:01"}}, hla_case("A*02", "A*24:02"), "A*02"),
        ({"hla": {"allele": "A*02:01"}}, hla_case("A*02:01:01", "A*02:06"), "A*02:01:01"),
        ({"hla": {"allele": "A*02"}}, hla_case("A*02:06", "A*24:02"), "A*02:06"),
        ({"hla": {"allele": "A*02:01"}}, hla_case("A*02:01N", "A*03:01"), "A*02:01N"),
        ({"hla": {"allele": "A*02:01"}}, hla_case("A*24:02", "A*03:01"), None),
    ],
)
def test_observe_reports_what_the_check_looked_at(
    check: dict[str, Any], case: Case, observed: str | None
) -> None:
    assert observe(node(check), case) == observed


def test_facts_to_collect_name_the_missing_data() -> None:
    assert facts_to_collect(node({"antigen": {"name": "CD7", "min_percent": 70}})) == [
        "CD7 expression (% of cells)"
    ]
    assert facts_to_collect(node({"hla": {"allele": "A*02:01"}})) == [
        "HLA-A typing at A*02:01 resolution"
    ]
    composite = {"any": [{"hla": {"allele": "A*02:01"}}, {"hla": {"allele": "A*02:01"}}, MMR]}
    assert facts_to_collect(node(composite)) == [
        "HLA-A typing at A*02:01 resolution",
        "MSI or MMR status",
    ]
