"""Case normalisation: a validated case becomes the flat fact the rules engine matches on.

Lookups are dictionaries keyed by safe tokens (`dx.<code>`, `somatic.<gene>__<change>`,
`hla.A_02_01`; see `field_token`), so each check is an existence test. A section the case
does not report is left out of the fact, which the compiled rules read as *unknown*.
"""

from __future__ import annotations

from typing import Any

from rarematch.common.contracts.case import Biomarkers, Case, Diagnosis, TreatmentHistory
from rarematch.eligibility.domain.conditions import field_token
from rarematch.eligibility.domain.hla import case_fields, parse_allele
from rarematch.eligibility.domain.oncotree import OncoTree

__all__ = [
    "INTENSITY_RANK",
    "antigen_key",
    "case_fact",
    "fusion_pair_key",
    "therapy_key",
    "variant_key",
]

INTENSITY_RANK = {"0": 0, "1+": 1, "2+": 2, "3+": 3}

PATHOGENIC = frozenset({"pathogenic", "likely_pathogenic"})


def antigen_key(name: str) -> str:
    return field_token(name.upper())


def variant_key(gene: str, protein_change: str) -> str:
    return f"{field_token(gene)}__{field_token(protein_change)}"


def fusion_pair_key(gene: str, partner: str) -> str:
    """Order-free: EWSR1::FLI1 and FLI1::EWSR1 are the same pair."""
    return "__".join(sorted((field_token(gene), field_token(partner))))


def therapy_key(therapy_class: str) -> str:
    return field_token(therapy_class.lower())


def case_fact(case: Case, oncotree: OncoTree) -> dict[str, Any]:
    """The engine's view of `case`; pure and deterministic."""
    fact: dict[str, Any] = {}
    if case.age is not None:
        fact["age_min_months"], fact["age_max_months"] = case.age.month_range
    fact |= _without_none({"sex": case.sex, "country": case.country})
    if case.diagnosis is not None:
        fact |= _diagnosis_fields(case.diagnosis, oncotree)
    fact |= _biomarker_fields(case.biomarkers or Biomarkers())
    if case.hla_alleles is not None:
        fact |= _hla_fields(case.hla_alleles)
    if case.performance is not None:
        fact["perf"] = {score.scale: score.value for score in case.performance}
    if case.treatment_history is not None:
        fact |= _treatment_fields(case.treatment_history)
    if case.organ_function is not None:
        fact["organ"] = case.organ_function.model_dump(exclude_none=True)
    return fact


def _diagnosis_fields(diagnosis: Diagnosis, oncotree: OncoTree) -> dict[str, Any]:
    lineage = oncotree.lineage(diagnosis.oncotree_code)
    return {
        "dx_code": diagnosis.oncotree_code,
        "dx": dict.fromkeys(map(field_token, lineage), True),
    } | _without_none(
        {
            "dx_status": diagnosis.disease_status,
            "dx_extent": diagnosis.extent,
            "cns": diagnosis.cns_involvement,
        }
    )


def _treatment_fields(history: TreatmentHistory) -> dict[str, Any]:
    fields: dict[str, Any] = _without_none({"prior_lines": history.prior_lines})
    if history.prior_therapy_classes is not None:
        fields["prior"] = dict.fromkeys(map(therapy_key, history.prior_therapy_classes), True)
        fields["prior_reported"] = True
    return fields


def _biomarker_fields(markers: Biomarkers) -> dict[str, Any]:
    fields: dict[str, Any] = {"cgp": markers.comprehensive_genomic_profiling is True}
    if markers.antigens is not None:
        fields["antigen"] = {
            antigen_key(result.antigen): _without_none(
                {
                    "status": result.status,
                    "pct": result.percent_cells,
                    "intensity": INTENSITY_RANK.get(result.intensity or ""),
                }
            )
            for result in markers.antigens
        }
    if markers.somatic_variants is not None:
        somatic: dict[str, bool] = {}
        for variant in markers.somatic_variants:
            somatic[field_token(variant.gene)] = True
            if variant.protein_change:
                somatic[variant_key(variant.gene, variant.protein_change)] = True
        fields["somatic"] = somatic
    if markers.fusions is not None:
        fields["fusion"] = {
            field_token(gene): True
            for fusion in markers.fusions
            for gene in (fusion.gene_5p, fusion.gene_3p)
            if gene
        }
        fields["fusion_pair"] = {
            fusion_pair_key(fusion.gene_5p, fusion.gene_3p): True
            for fusion in markers.fusions
            if fusion.gene_5p
        }
        fields["fusion_unpaired"] = {
            field_token(fusion.gene_3p): True for fusion in markers.fusions if not fusion.gene_5p
        }
    if markers.germline_findings is not None:
        fields["germline"] = {
            field_token(f.gene): True
            for f in markers.germline_findings
            if f.classification in PATHOGENIC
        }
    if markers.germline_genes_tested is not None:
        fields["germline_tested"] = dict.fromkeys(
            map(field_token, markers.germline_genes_tested), True
        )
    return fields | _without_none(
        {"msi": markers.msi_status, "mmr": markers.mmr_status, "tmb": markers.tmb_mut_per_mb}
    )


def _hla_fields(alleles: list[str]) -> dict[str, Any]:
    """See `rarematch.eligibility.domain.hla`: what each typing proves, at every resolution."""
    return case_fields(parse_allele(text) for text in alleles)


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}
