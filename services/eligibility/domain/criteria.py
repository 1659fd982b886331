"""Program files as data: metadata, inclusion and exclusion criteria, each with one typed check.

The check vocabulary is closed — no expressions, no code. Every check is a small pydantic model;
`compile.py` turns each into durable-rules conditions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from rarematch.common.contracts import CriterionStatus, Outcome, Tier
from rarematch.common.contracts.case import Case
from rarematch.common.contracts.therapy import TherapyClass
from rarematch.eligibility.domain.hla import HlaParseError, parse_allele

__all__ = [
    "CHECK_FIELDS",
    "DEFINING_CHECKS",
    "REGIONS",
    "AgeCheck",
    "AntigenCheck",
    "Check",
    "CheckNode",
    "CnsInvolvementCheck",
    "Composite",
    "CountryCheck",
    "Criterion",
    "DiagnosisCheck",
    "DiseaseStatusCheck",
    "Expectation",
    "ExtentCheck",
    "FusionCheck",
    "GermlineCheck",
    "HlaCheck",
    "MismatchRepairCheck",
    "OrganFunctionCheck",
    "PerformanceCheck",
    "PriorLinesCheck",
    "PriorTherapyCheck",
    "Program",
    "ProgramTest",
    "SexCheck",
    "Site",
    "TmbCheck",
    "VariantCheck",
    "iter_checks",
]

Gene = Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9-]{0,19}$")]

_EU = (
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
)  # fmt: skip
REGIONS: dict[str, tuple[str, ...]] = {
    "EU": _EU,
    "EEA": (*_EU, "IS", "LI", "NO"),
    "UK": ("GB",),
    "North_America": ("US", "CA"),
    "Greater_China": ("CN", "HK", "MO", "TW"),
}
Region = Literal["EU", "EEA", "UK", "North_America", "Greater_China"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class AgeCheck(_Model):
    """Inclusive bounds, in years or months (months for young children)."""

    min_years: int | None = Field(default=None, ge=0, le=130)
    max_years: int | None = Field(default=None, ge=0, le=130)
    min_months: int | None = Field(default=None, ge=0, le=1560)
    max_months: int | None = Field(default=None, ge=0, le=1560)

    @model_validator(mode="after")
    def _bounded_and_ordered(self) -> AgeCheck:
        if self.lowest_month is None and self.highest_month is None:
            raise ValueError("give at least one of min_years, max_years, min_months, max_months")
        if self.min_years is not None and self.min_months is not None:
            raise ValueError("give min_years or min_months, not both")
        if self.max_years is not None and self.max_months is not None:
            raise ValueError("give max_years or max_months, not both")
        low, high = self.lowest_month, self.highest_month
        if low is not None and high is not None and low > high:
            raise ValueError("the minimum age is above the maximum: the range is empty")
        return self

    @property
    def lowest_month(self) -> int | None:
        return self.min_months if self.min_years is None else 12 * self.min_years

    @property
    def highest_month(self) -> int | None:
        """A maximum in years includes that whole year: max_years 17 allows 17 years 11 months."""
        return self.max_months if self.max_years is None else 12 * self.max_years + 11


class DiagnosisCheck(_Model):
    """OncoTree codes; each includes all its descendants, minus the `exclude` subtrees."""

    oncotree: list[str] = Field(min_length=1)
    exclude: list[str] = Field(default_factory=list)


class AntigenCheck(_Model):
    """Antigen expression; `min_percent` of cells and `min_intensity` (IHC) refine a positive."""

    name: str = Field(pattern=r"^[A-Za-z0-9-]{1,30}$")
    status: Literal["positive", "negative"] = "positive"
    min_percent: float | None = Field(default=None, gt=0, le=100)
    min_intensity: Literal["1+", "2+", "3+"] | None = None

    @model_validator(mode="after")
    def _refinements_need_positive(self) -> AntigenCheck:
        refined = self.min_percent is not None or self.min_intensity is not None
        if refined and self.status != "positive":
            raise ValueError("min_percent and min_intensity apply only to status: positive")
        return self


class VariantCheck(_Model):
    """A somatic variant: a gene and protein change (KRAS p.G12C), or any variant in a gene."""

    gene: Gene
    protein_change: str | None = Field(default=None, pattern=r"^p\.[A-Za-z0-9*_=>?]+$")


class FusionCheck(_Model):
    """A fusion of any of `genes` with any partner (NTRK1/2/3, RET …), or with one of `partners`."""

    genes: list[Gene] = Field(min_length=1)
    partners: list[Gene] = Field(default_factory=list)


class GermlineCheck(_Model):
    """A pathogenic or likely pathogenic germline finding in any of `genes`."""

    genes: list[Gene] = Field(min_length=1)


class MismatchRepairCheck(_Model):
    """MSI-high or mismatch-repair deficient."""

    msi_high_or_dmmr: Literal[True] = True


class HlaCheck(_Model):
    """An HLA restriction as the protocol names it: an allele at any resolution (A*02, A*02:01),
    a P or G group (A*02:01P) or a serological antigen (A2); stored in canonical form."""

    allele: str

    @field_validator("allele")
    @classmethod
    def _well_formed(cls, value: str) -> str:
        try:
            allele = parse_allele(value)
        except HlaParseError as error:
            raise ValueError(f"'{value}' is {error}") from None
        if allele.suffix not in ("", "L"):
            raise ValueError(
                f"'{value}' is not proven on the cell surface ({allele.expression} expression), "
                "so no case could meet it; name the expressed allele, e.g. A*02:01"
            )
        return str(allele)


class _Bounds(_Model):
    """Inclusive numeric bounds; at least one, and not inverted."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounded_and_ordered(self) -> _Bounds:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}: the range is empty")
        return self


class SexCheck(_Model):
    is_: list[Literal["female", "male", "other"]] = Field(alias="is", min_length=1)


class CountryCheck(_Model):
    """Where the patient can be treated: ISO 3166-1 codes and/or named regions."""

    countries: list[Annotated[str, Field(pattern=r"^[A-Z]{2}$")]] = Field(default_factory=list)
    regions: list[Region] = Field(default_factory=list)

    @model_validator(mode="after")
    def _at_least_one_place(self) -> CountryCheck:
        if not self.countries and not self.regions:
            raise ValueError("give countries, regions or both")
        return self

    @property
    def all_countries(self) -> list[str]:
        expanded = [code for region in self.regions for code in REGIONS[region]]
        return sorted({*self.countries, *expanded})


class DiseaseStatusCheck(_Model):
    """Relapsed / refractory / newly diagnosed, as the protocol lists them."""

    is_: list[Literal["newly_diagnosed", "relapsed", "refractory", "no_evidence_of_disease"]] = (
        Field(alias="is", min_length=1)
    )


class ExtentCheck(_Model):
    is_: list[Literal["localized", "locally_advanced", "metastatic"]] = Field(
        alias="is", min_length=1
    )


class CnsInvolvementCheck(_Model):
    """Met when the case's CNS involvement equals `present`."""

    present: bool


class TmbCheck(_Bounds):
    """Tumour mutational burden in mutations per megabase."""


class PerformanceCheck(_Bounds):
    """A performance score on one scale (ECOG 0-5; Karnofsky and Lansky 0-100)."""

    scale: Literal["ECOG", "Karnofsky", "Lansky"]


class PriorLinesCheck(_Bounds):
    """Number of prior lines of systemic therapy."""


class PriorTherapyCheck(_Model):
    """Any prior therapy of these classes (car_t, gene_therapy, anti_GD2, …)."""

    classes: list[TherapyClass] = Field(min_length=1)


OrganMeasure = Literal[
    "creatinine_clearance_ml_min",
    "creatinine_x_uln",
    "alt_x_uln",
    "ast_x_uln",
    "bilirubin_x_uln",
    "lvef_percent",
    "anc_per_ul",
    "platelets_per_ul",
    "hemoglobin_g_dl",
]


class OrganFunctionCheck(_Bounds):
    """One organ-function value: creatinine clearance, ALT/AST/bilirubin x ULN, LVEF, counts."""

    measure: OrganMeasure


Check = (
    AgeCheck
    | SexCheck
    | CountryCheck
    | DiagnosisCheck
    | DiseaseStatusCheck
    | ExtentCheck
    | CnsInvolvementCheck
    | AntigenCheck
    | VariantCheck
    | FusionCheck
    | GermlineCheck
    | MismatchRepairCheck
    | TmbCheck
    | HlaCheck
    | PerformanceCheck
    | PriorLinesCheck
    | PriorTherapyCheck
    | OrganFunctionCheck
)
CHECK_FIELDS = (
    "age",
    "sex",
    "country",
    "diagnosis",
    "disease_status",
    "extent",
    "cns_involvement",
    "antigen",
    "variant",
    "fusion",
    "germline",
    "mismatch_repair",
    "tmb",
    "hla",
    "performance",
    "prior_lines",
    "prior_therapy",
    "organ_function",
)


class CheckNode(_Model):
    """Exactly one check, or a composition: `all` / `any` of several, or `not` one."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )

    age: AgeCheck | None = None
    sex: SexCheck | None = None
    country: CountryCheck | None = None
    diagnosis: DiagnosisCheck | None = None
    disease_status: DiseaseStatusCheck | None = None
    extent: ExtentCheck | None = None
    cns_involvement: CnsInvolvementCheck | None = None
    antigen: AntigenCheck | None = None
    variant: VariantCheck | None = None
    fusion: FusionCheck | None = None
    germline: GermlineCheck | None = None
    mismatch_repair: MismatchRepairCheck | None = None
    tmb: TmbCheck | None = None
    hla: HlaCheck | None = None
    performance: PerformanceCheck | None = None
    prior_lines: PriorLinesCheck | None = None
    prior_therapy: PriorTherapyCheck | None = None
    organ_function: OrganFunctionCheck | None = None
    all_of: list[CheckNode] | None = Field(default=None, alias="all", min_length=2)
    any_of: list[CheckNode] | None = Field(default=None, alias="any", min_length=2)
    not_: CheckNode | None = Field(default=None, alias="not")

    @model_validator(mode="after")
    def _exactly_one_check(self) -> CheckNode:
        given = [name for name in NODE_FIELDS if getattr(self, name) is not None]
        if len(given) != 1:
            found = ", ".join(given) or "none"
            raise ValueError(f"give exactly one of {', '.join(NODE_KEYS)} (found {found})")
        return self

    @cached_property  # read for every criterion of every evaluation
    def node(self) -> Check | Composite:
        name = next(name for name in NODE_FIELDS if getattr(self, name) is not None)
        value = getattr(self, name)
        if name in COMPOSITE_FIELDS:
            children = value if isinstance(value, list) else [value]
            return Composite(COMPOSITE_FIELDS[name], tuple(children))
        return value  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Composite:
    operator: Literal["all", "any", "not"]
    children: tuple[CheckNode, ...]


COMPOSITE_FIELDS: dict[str, Literal["all", "any", "not"]] = {
    "all_of": "all",
    "any_of": "any",
    "not_": "not",
}
NODE_FIELDS = (*CHECK_FIELDS, *COMPOSITE_FIELDS)
NODE_KEYS = (*CHECK_FIELDS, "all", "any", "not")


DEFINING_CHECKS = frozenset(
    {"diagnosis", "antigen", "hla", "variant", "fusion", "germline", "mismatch_repair", "tmb"}
)
"""Check kinds that define who a program is for: while one is unknown, a match is only
`possible`; unknown general criteria (labs, performance, history …) leave it `likely`."""


class Criterion(CheckNode):
    """One protocol criterion: a stable id, the protocol's words, and its check."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    text: str = Field(min_length=1, max_length=4_000, description="At most what a match carries")
    defining: bool | None = Field(
        default=None,
        description="Whether the criterion defines who the program is for (tiers); by default "
        "true when it checks diagnosis, antigen, HLA, a variant, fusion, germline finding, "
        "MSI/MMR or TMB",
    )

    @cached_property
    def is_defining(self) -> bool:
        if self.defining is not None:
            return self.defining
        return any(path[-1] in DEFINING_CHECKS for path, _ in iter_checks(self))


class Expectation(_Model):
    """What a program test expects: the outcome, and optionally facts and criterion statuses."""

    outcome: Outcome
    tier: Tier | None = None
    facts_to_collect: list[str] | None = None
    criteria: dict[str, CriterionStatus] | None = Field(
        default=None, description="criterion id -> met / not_met / unknown"
    )


class ProgramTest(_Model):
    """An example case that travels with the program file, and what it must decide."""

    note: str = Field(min_length=1)
    case: dict[str, Any] | None = Field(default=None, description="The case, inline")
    case_file: str | None = Field(
        default=None, description="Or a case JSON file, relative to this program file"
    )
    want: Expectation

    @model_validator(mode="after")
    def _one_case(self) -> ProgramTest:
        if (self.case is None) == (self.case_file is None):
            raise ValueError("give the case inline (case:) or as a file (case_file:), not both")
        if self.case is not None:
            self.inline_case()  # validate now, so lint reports a malformed case
        return self

    def inline_case(self) -> Case:
        assert self.case is not None
        return Case.model_validate({"case_id": "program-test", **self.case})


class Site(_Model):
    name: str
    country: str = Field(pattern=r"^[A-Z]{2}$")


class Program(_Model):
    """One program file: who runs it, where, whom to notify, and its criteria."""

    id: str = Field(
        pattern=r"^(NCT[0-9]{8}|ISRCTN[0-9]{8}|[A-Za-z0-9][A-Za-z0-9._-]{1,63})$",
        description="Registry id (NCT…, ISRCTN…) or a label id for an approved product",
    )
    title: str = Field(min_length=1, max_length=500, description="At most what a match carries")
    area: Literal[
        "sarcoma",
        "paediatric",
        "rare_haematologic",
        "molecular_basket",
        "hereditary_syndrome",
        "other",
    ]
    modality: str
    status: Literal["recruiting", "suspended", "closed"]
    notify: list[str] = Field(default_factory=list, description="Coordinator routes")
    sites: list[Site] = Field(default_factory=list)
    source: str = Field(description="Where the criteria were transcribed from")
    transcribed: dt.date
    notes: str | None = Field(
        default=None, description="Protocol criteria not (yet) checked by machine, for humans"
    )
    inclusion: list[Criterion] = Field(min_length=1)
    exclusion: list[Criterion] = Field(default_factory=list)
    tests: list[ProgramTest] = Field(default_factory=list)

    @cached_property
    def site_countries(self) -> list[str]:
        return sorted({site.country for site in self.sites})

    @cached_property
    def sections(self) -> list[tuple[Literal["inclusion", "exclusion"], Criterion]]:
        """Every criterion with its section, inclusions first (computed once)."""
        return [
            *(("inclusion", c) for c in self.inclusion),
            *(("exclusion", c) for c in self.exclusion),
        ]

    @model_validator(mode="after")
    def _unique_criterion_ids(self) -> Program:
        ids = [c.id for c in (*self.inclusion, *self.exclusion)]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise PydanticCustomError(
                "duplicate_criterion_id",
                "criterion ids must be unique; repeated: {ids}",
                {"ids": ", ".join(duplicates)},
            )
        return self


def iter_checks(
    node: CheckNode, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], Check]]:
    """Every leaf check under `node`, with its path as written in YAML (`any`, 0, `hla`)."""
    inner = node.node
    if not isinstance(inner, Composite):
        name = next(n for n in CHECK_FIELDS if getattr(node, n) is not None)
        yield (*path, name), inner
        return
    if inner.operator == "not":
        yield from iter_checks(inner.children[0], (*path, "not"))
        return
    for index, child in enumerate(inner.children):
        yield from iter_checks(child, (*path, inner.operator, index))
