"""Case normalisation: a validated case becomes the flat fact the rules engine matches on.

Lookups are dictionaries keyed by safe tokens (`dx.SOFT_TISSUE`, `somatic.KRAS__p_G12C`,
`hla.A_02_01`), so each check is an existence test. A section the case does not report is left
out of the fact, which the compiled rules read as *unknown*.
"""

from __future__ import annotations

from typing import Any

from eligibility.domain.conditions import field_token
from eligibility.domain.hla import parse_allele
from eligibility.domain.oncotree import OncoTree
from rarematch_common.contracts.case import Biomarkers, Case

__all__ = ["FACT_KIND", "antigen_key", "case_fact", "variant_key"]

FACT_KIND = "case"
"""Marks case facts: the engine also matches its own session state, which has no such field."""

PATHOGENIC = frozenset({"pathogenic", "likely_pathogenic"})


def antigen_key(name: str) -> str:
    return field_token(name.upper())


def variant_key(gene: str, protein_change: str) -> str:
    return f"{field_token(gene)}__{field_token(protein_change)}"


def case_fact(case: Case, oncotree: OncoTree) -> dict[str, Any]:
    """The engine's view of `case`; pure and deterministic."""
    fact: dict[str, Any] = {"kind": FACT_KIND}
    if case.age is not None:
        fact["age_months"] = case.age.in_months
    if case.diagnosis is not None:
        fact["dx_code"] = case.diagnosis.oncotree_code
        fact["dx"] = dict.fromkeys(map(field_token, oncotree.lineage(fact["dx_code"])), True)
    fact.update(_biomarker_fields(case.biomarkers or Biomarkers()))
    if case.hla_alleles is not None:
        fact.update(_hla_fields(case.hla_alleles))
    return fact


def _biomarker_fields(markers: Biomarkers) -> dict[str, Any]:
    fields: dict[str, Any] = {"cgp": markers.comprehensive_genomic_profiling is True}
    if markers.antigens is not None:
        fields["antigen"] = {
            antigen_key(result.antigen): _without_none(
                {"status": result.status, "pct": result.percent_cells}
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
    return fields | _without_none({"msi": markers.msi_status, "mmr": markers.mmr_status})


def _hla_fields(alleles: list[str]) -> dict[str, Any]:
    parsed = [parse_allele(text) for text in alleles]
    return {
        "hla": {prefix.key: True for allele in parsed for prefix in allele.prefixes},
        "hla_typed": {allele.key: True for allele in parsed},
        "hla_loci": {allele.locus: True for allele in parsed},
    }


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}
