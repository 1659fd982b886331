"""Program files as data: metadata, inclusion and exclusion criteria, each with one typed check.

The check vocabulary is closed — no expressions, no code. Every check is a small pydantic model;
`compile.py` turns each into durable-rules conditions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from eligibility.domain.hla import parse_allele

__all__ = [
    "AgeCheck",
    "AntigenCheck",
    "Check",
    "CheckNode",
    "Composite",
    "Criterion",
    "DiagnosisCheck",
    "FusionCheck",
    "GermlineCheck",
    "HlaCheck",
    "MismatchRepairCheck",
    "Program",
    "Site",
    "VariantCheck",
]

Gene = Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9-]{0,19}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    name: str = Field(pattern=r"^[A-Za-z0-9-]{1,30}$")
    status: Literal["positive", "negative"] = "positive"
    min_percent: float | None = Field(default=None, gt=0, le=100)

    @model_validator(mode="after")
    def _percent_needs_positive(self) -> AntigenCheck:
        if self.min_percent is not None and self.status != "positive":
            raise ValueError("min_percent applies only to status: positive")
        return self


class VariantCheck(_Model):
    """A somatic variant: a gene and protein change (KRAS p.G12C), or any variant in a gene."""

    gene: Gene
    protein_change: str | None = Field(default=None, pattern=r"^p\.[A-Za-z0-9*_=>?]+$")


class FusionCheck(_Model):
    """A fusion involving any of `genes`, with any partner (NTRK1/2/3, RET …)."""

    genes: list[Gene] = Field(min_length=1)


class GermlineCheck(_Model):
    """A pathogenic or likely pathogenic germline finding in any of `genes`."""

    genes: list[Gene] = Field(min_length=1)


class MismatchRepairCheck(_Model):
    """MSI-high or mismatch-repair deficient."""

    msi_high_or_dmmr: Literal[True] = True


class HlaCheck(_Model):
    """An HLA allele at the resolution the protocol names (A*02 or A*02:01)."""

    allele: str

    @field_validator("allele")
    @classmethod
    def _well_formed(cls, value: str) -> str:
        return str(parse_allele(value))


Check = (
    AgeCheck
    | DiagnosisCheck
    | AntigenCheck
    | VariantCheck
    | FusionCheck
    | GermlineCheck
    | MismatchRepairCheck
    | HlaCheck
)
CHECK_FIELDS = (
    "age",
    "diagnosis",
    "antigen",
    "variant",
    "fusion",
    "germline",
    "mismatch_repair",
    "hla",
)


class CheckNode(_Model):
    """Exactly one check, or a composition: `all` / `any` of several, or `not` one."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    age: AgeCheck | None = None
    diagnosis: DiagnosisCheck | None = None
    antigen: AntigenCheck | None = None
    variant: VariantCheck | None = None
    fusion: FusionCheck | None = None
    germline: GermlineCheck | None = None
    mismatch_repair: MismatchRepairCheck | None = None
    hla: HlaCheck | None = None
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

    @property
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


class Criterion(CheckNode):
    """One protocol criterion: a stable id, the protocol's words, and its check."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    text: str = Field(min_length=1)


class Site(_Model):
    name: str
    country: str = Field(pattern=r"^[A-Z]{2}$")


class Program(_Model):
    """One program file: who runs it, where, whom to notify, and its criteria."""

    id: str = Field(
        pattern=r"^(NCT\d{8}|ISRCTN\d{8}|[A-Za-z0-9][A-Za-z0-9._-]{1,63})$",
        description="Registry id (NCT…, ISRCTN…) or a label id for an approved product",
    )
    title: str
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

    @model_validator(mode="after")
    def _unique_criterion_ids(self) -> Program:
        ids = [c.id for c in (*self.inclusion, *self.exclusion)]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"criterion ids must be unique; repeated: {', '.join(duplicates)}")
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
