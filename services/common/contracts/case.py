"""Case events as intake systems publish them: a pseudonymised rare-cancer case.

Every clinical field is optional: a field that is absent means *not reported*, which the
eligibility service treats as unknown, never as false. An empty list means "reported: none".
"""

from __future__ import annotations

import functools
import re
import typing
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from rarematch.common.contracts.therapy import TherapyClass
from rarematch.common.hla import HLA_ALLELE_PATTERN, HLA_FORMS, HlaParseError, parse_allele

__all__ = [
    "CASE_ID_PATTERN",
    "Age",
    "AntigenResult",
    "Biomarkers",
    "Case",
    "CaseWithdrawn",
    "Diagnosis",
    "Fusion",
    "GermlineFinding",
    "OrganFunction",
    "PerformanceScore",
    "SomaticVariant",
    "TreatmentHistory",
    "is_case_id",
]

CASE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"


def is_case_id(text: str) -> bool:
    return re.fullmatch(CASE_ID_PATTERN, text) is not None


@functools.cache
def _int_fields(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(
        name
        for name, info in model.model_fields.items()
        if info.annotation is int or int in typing.get_args(info.annotation)
    )


CaseId = Annotated[
    str,
    Field(
        pattern=CASE_ID_PATTERN,
        description="Pseudonymous case id (no names, MRNs or contact details); the Kafka key.",
        examples=["case-000123"],
    ),
]
GeneSymbol = Annotated[
    str,
    Field(pattern=r"^[A-Z0-9][A-Z0-9-]{0,19}$", description="HGNC gene symbol", examples=["KRAS"]),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _whole_numbers_are_integers(cls, value: object, info: ValidationInfo) -> object:
        """JSON Schema's `integer` is any number without a fraction (`3.0` too). Bodies are
        read strictly, so a whole float given for an integer field is made an int here, and
        anything else is left for strict validation to refuse."""
        if isinstance(value, float) and value.is_integer() and info.field_name in _int_fields(cls):
            return int(value)
        return value


class Age(_Strict):
    """Age at submission; give months for young children, years otherwise."""

    years: int | None = Field(default=None, ge=0, le=130)
    months: int | None = Field(default=None, ge=0, le=1560, description="Total age in months")

    @model_validator(mode="after")
    def _one_consistent_value(self) -> Age:
        if self.years is None and self.months is None:
            raise ValueError("give age.years or age.months")
        if self.years is not None and self.months is not None and self.months // 12 != self.years:
            raise ValueError("age.months and age.years disagree: give one, or make them agree")
        return self

    @property
    def in_months(self) -> int:
        """Total months; ages given in whole years count from the start of that year."""
        return self.months if self.months is not None else 12 * (self.years or 0)

    @property
    def month_range(self) -> tuple[int, int]:
        """The ages in months this could be: `years: 1` is anywhere from 12 to 23 months."""
        if self.months is not None:
            return self.months, self.months
        return 12 * (self.years or 0), 12 * (self.years or 0) + 11


class Diagnosis(_Strict):
    oncotree_code: str = Field(
        pattern=r"^[A-Z0-9][A-Z0-9_/-]{1,19}$", description="OncoTree code", examples=["SYNS"]
    )
    disease_status: (
        Literal["newly_diagnosed", "relapsed", "refractory", "no_evidence_of_disease"] | None
    ) = None
    extent: Literal["localized", "locally_advanced", "metastatic"] | None = None
    cns_involvement: bool | None = None


class AntigenResult(_Strict):
    antigen: str = Field(pattern=r"^[A-Za-z0-9-]{1,30}$", examples=["GD2", "HER2", "NY-ESO-1"])
    status: Literal["positive", "negative"]
    percent_cells: float | None = Field(default=None, ge=0, le=100)
    intensity: Literal["0", "1+", "2+", "3+"] | None = None


class SomaticVariant(_Strict):
    gene: GeneSymbol
    protein_change: str | None = Field(
        default=None, pattern=r"^p\.[A-Za-z0-9*_=>?]+$", examples=["p.G12C"]
    )


class Fusion(_Strict):
    gene_5p: GeneSymbol | None = Field(default=None, description="5' partner if known")
    gene_3p: GeneSymbol = Field(description="3' partner (the kinase in NTRK/RET/ALK fusions)")


class GermlineFinding(_Strict):
    gene: GeneSymbol
    classification: Literal["pathogenic", "likely_pathogenic", "vus", "benign"] = "pathogenic"


class Biomarkers(_Strict):
    comprehensive_genomic_profiling: bool | None = Field(
        default=None,
        description="True after comprehensive profiling: unreported variants/fusions are absent",
    )
    antigens: list[AntigenResult] | None = None
    somatic_variants: list[SomaticVariant] | None = None
    fusions: list[Fusion] | None = None
    germline_findings: list[GermlineFinding] | None = None
    germline_genes_tested: list[GeneSymbol] | None = Field(
        default=None,
        description="Genes covered by germline testing: a tested gene with no finding is absent",
    )
    msi_status: Literal["MSI-H", "MSI-L", "MSS"] | None = None
    mmr_status: Literal["deficient", "proficient"] | None = None
    tmb_mut_per_mb: float | None = Field(default=None, ge=0)


class PerformanceScore(_Strict):
    scale: Literal["ECOG", "Karnofsky", "Lansky"]
    value: int = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _in_scale_range(self) -> PerformanceScore:
        if self.scale == "ECOG" and self.value > 5:
            raise ValueError("ECOG is 0-5")
        if self.scale != "ECOG" and self.value % 10:
            raise ValueError(f"{self.scale} is given in steps of 10")
        return self


class TreatmentHistory(_Strict):
    prior_lines: int | None = Field(default=None, ge=0, le=30)
    prior_therapy_classes: list[TherapyClass] | None = Field(
        default=None,
        description="Classes from the controlled vocabulary (rarematch.common.contracts.therapy)",
        examples=[["chemotherapy", "anti_gd2", "car_t"]],
    )


class OrganFunction(_Strict):
    creatinine_clearance_ml_min: float | None = Field(default=None, ge=0)
    creatinine_x_uln: float | None = Field(default=None, ge=0)
    alt_x_uln: float | None = Field(default=None, ge=0)
    ast_x_uln: float | None = Field(default=None, ge=0)
    bilirubin_x_uln: float | None = Field(default=None, ge=0)
    lvef_percent: float | None = Field(default=None, ge=0, le=100)
    anc_per_ul: float | None = Field(default=None, ge=0)
    platelets_per_ul: float | None = Field(default=None, ge=0)
    hemoglobin_g_dl: float | None = Field(default=None, ge=0)


def _hla_allele(text: str) -> str:
    """`HLA_ALLELE_PATTERN`, then the parser (mhcgnomes) on what it accepts, with one short
    message that never repeats the value. Kept as written: matching normalises."""
    if text != text.strip():
        raise HlaParseError()
    parse_allele(text)
    return text


MAX_HLA_ALLELES = 100
"""Two alleles at each of 15 loci, reported in several forms, fit many times over; the bound
keeps a hostile case from costing more than 100 parses (about 2 ms each, first seen)."""

HlaAllele = Annotated[
    str,
    Field(
        description=f"HLA allele, P or G group or serological antigen: {HLA_FORMS}",
        examples=["A*02:01", "HLA-A*02:01:01:02L", "A*02:01P", "A*02:01:01G", "A2", "A*0201"],
        json_schema_extra={"pattern": HLA_ALLELE_PATTERN},
    ),
    AfterValidator(_hla_allele),
]


class Case(_Strict):
    """Body of `case.submitted` and `case.updated`: the whole current case."""

    case_id: CaseId
    age: Age | None = None
    sex: Literal["female", "male", "other"] | None = None
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", description="ISO 3166-1")
    diagnosis: Diagnosis | None = None
    biomarkers: Biomarkers | None = None
    hla_alleles: list[HlaAllele] | None = Field(
        default=None,
        max_length=MAX_HLA_ALLELES,
        description="HLA typing as reported; at most two alleles a locus, ambiguity reported "
        "as several entries",
    )
    performance: list[PerformanceScore] | None = None
    treatment_history: TreatmentHistory | None = None
    organ_function: OrganFunction | None = None


class CaseWithdrawn(_Strict):
    """Body of `case.withdrawn`: the case leaves matching (consent withdrawn, enrolled, died)."""

    case_id: CaseId
    reason: Literal["consent_withdrawn", "enrolled", "deceased", "other"] | None = None
