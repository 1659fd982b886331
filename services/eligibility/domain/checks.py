"""Each check kind as three small functions: compile it, report what it saw, name what to collect.

`compile_*` returns the durable-rules conditions for met, not met and unknown. They are built
to be mutually exclusive and exhaustive over every case fact; missing data compiles to unknown,
never to not met. `observe_*` only reports the case value a check looked at (for reasons and
`rarematch explain`); deciding is the engine's job.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from rarematch.common.contracts import CriterionStatus
from rarematch.common.contracts.case import Biomarkers, Case
from rarematch.eligibility.domain.conditions import (
    Condition,
    all_of,
    any_of,
    eq,
    field_token,
    gt,
    gte,
    has,
    lacks,
    lt,
    lte,
    neq,
)
from rarematch.eligibility.domain.criteria import (
    AgeCheck,
    AntigenCheck,
    CheckNode,
    CnsInvolvementCheck,
    Composite,
    CountryCheck,
    DiagnosisCheck,
    DiseaseStatusCheck,
    ExtentCheck,
    FusionCheck,
    GermlineCheck,
    HlaCheck,
    MismatchRepairCheck,
    OrganFunctionCheck,
    PerformanceCheck,
    PriorLinesCheck,
    PriorTherapyCheck,
    SexCheck,
    TmbCheck,
    VariantCheck,
)
from rarematch.eligibility.domain.facts import (
    INTENSITY_RANK,
    antigen_key,
    fusion_pair_key,
    therapy_key,
    variant_key,
)
from rarematch.eligibility.domain.hla import parse_allele, restriction
from rarematch.eligibility.domain.oncotree import bundled_oncotree

__all__ = [
    "Conditions",
    "Observer",
    "compile_check",
    "facts_to_collect",
    "leaf_paths",
    "observation_key",
    "observe",
    "opposite",
    "what_to_collect",
]


@dataclass(frozen=True)
class Conditions:
    """When a check is met and when it is not; neither means unknown.

    Leaf checks also spell out `unknown`, so tests can prove the three are exclusive and
    exhaustive. The engine only needs met and not met: a composition's unknown would
    multiply out into hundreds of alpha nodes (durable-rules error 113).
    """

    met: Condition
    not_met: Condition
    unknown: Condition | None = None

    def of(self, status: CriterionStatus) -> Condition:
        """The condition for met or not met (unknown is neither, and has no rule)."""
        if status is CriterionStatus.UNKNOWN:
            raise ValueError("unknown has no rule of its own: it is neither met nor not met")
        return self.met if status is CriterionStatus.MET else self.not_met


def opposite(status: CriterionStatus) -> CriterionStatus:
    """Met for not met and the other way round (unknown has no opposite)."""
    if status is CriterionStatus.UNKNOWN:
        raise ValueError("unknown has no opposite")
    return CriterionStatus.NOT_MET if status is CriterionStatus.MET else CriterionStatus.MET


@dataclass(frozen=True)
class _Kind:
    compile: Callable[[Any], Conditions]
    observe: Callable[[Any, Case], str | None]
    to_collect: Callable[[Any], str]
    topic: Callable[[Any], Hashable] = lambda check: ()
    """What the observation depends on besides the case (an antigen's name, a gene …)."""


def compile_check(node: CheckNode) -> Conditions:
    """Conditions for a check or, recursively, a composition under three-valued logic."""
    inner = node.node
    if not isinstance(inner, Composite):
        return _KINDS[type(inner)].compile(inner)
    parts = [compile_check(child) for child in inner.children]
    if inner.operator == "not":
        return Conditions(met=parts[0].not_met, not_met=parts[0].met)
    if inner.operator == "all":
        return Conditions(
            met=all_of(*(p.met for p in parts)), not_met=any_of(*(p.not_met for p in parts))
        )
    return Conditions(
        met=any_of(*(p.met for p in parts)), not_met=all_of(*(p.not_met for p in parts))
    )


def observe(node: CheckNode, case: Case) -> str | None:
    """The case values a check looked at, for reasons and explanations."""
    return Observer(case)(node)


class Observer:
    """`observe` for one case across many programs: each distinct observation is made once."""

    def __init__(self, case: Case) -> None:
        self._case = case
        self._seen: dict[Hashable, str | None] = {}

    @property
    def case_id(self) -> str:
        return self._case.case_id

    def __call__(self, node: CheckNode, key: Hashable | None = None) -> str | None:
        """What `node` looked at; pass its `observation_key` when it is already known."""
        if key is None:
            key = observation_key(node)
        try:
            return self._seen[key]
        except KeyError:
            pass
        inner = node.node
        if isinstance(inner, Composite):
            seen = [o for child in inner.children if (o := self(child)) is not None]
            observed = "; ".join(dict.fromkeys(seen)) or None
        else:
            observed = _KINDS[type(inner)].observe(inner, self._case)
        self._seen[key] = observed
        return observed


def observation_key(node: CheckNode) -> Hashable:
    """What observing `node` depends on besides the case: equal keys, equal observations."""
    inner = node.node
    if isinstance(inner, Composite):
        return tuple(observation_key(child) for child in inner.children)
    return (type(inner), _KINDS[type(inner)].topic(inner))


def facts_to_collect(node: CheckNode) -> list[str]:
    """Everything a check could need; for compositions prefer `what_to_collect`."""
    inner = node.node
    if not isinstance(inner, Composite):
        return [_KINDS[type(inner)].to_collect(inner)]
    return list(dict.fromkeys(f for child in inner.children for f in facts_to_collect(child)))


def leaf_paths(node: CheckNode, path: str = "") -> list[tuple[str, CheckNode]]:
    """The leaf checks of a composition with their paths (`any.0.all.1`)."""
    inner = node.node
    if not isinstance(inner, Composite):
        return [(path, node)]
    return [
        leaf
        for index, child in enumerate(inner.children)
        for leaf in leaf_paths(child, f"{path}.{inner.operator}.{index}".lstrip("."))
    ]


def what_to_collect(
    node: CheckNode, leaf_status: Callable[[str], CriterionStatus], path: str = ""
) -> tuple[CriterionStatus, list[str]]:
    """A composition's status from the engine's leaf verdicts, and only the facts that matter.

    In `any` of a branch already not met (age 12 against the adult branch), nothing of that
    branch is worth collecting. The status is returned so the caller can check it against
    the engine's own verdict for the whole criterion.
    """
    inner = node.node
    if not isinstance(inner, Composite):
        status = leaf_status(path)
        facts = facts_to_collect(node) if status is CriterionStatus.UNKNOWN else []
        return status, facts
    parts = [
        what_to_collect(child, leaf_status, f"{path}.{inner.operator}.{index}".lstrip("."))
        for index, child in enumerate(inner.children)
    ]
    statuses = [status for status, _ in parts]
    unknown_facts = [
        f for status, facts in parts if status is CriterionStatus.UNKNOWN for f in facts
    ]
    met, not_met = CriterionStatus.MET, CriterionStatus.NOT_MET
    if inner.operator == "not":
        flipped = {met: not_met, not_met: met}.get(statuses[0], statuses[0])
        return flipped, parts[0][1]
    decisive, absorbing = (not_met, met) if inner.operator == "all" else (met, not_met)
    if decisive in statuses:
        return decisive, []
    if all(status is absorbing for status in statuses):
        return absorbing, []
    return CriterionStatus.UNKNOWN, list(dict.fromkeys(unknown_facts))


# --- age ---------------------------------------------------------------------------------------


def _compile_age(check: AgeCheck) -> Conditions:
    """Met when every age the case could be is inside; a year-only age may straddle a bound."""
    low, high = check.lowest_month, check.highest_month
    youngest, oldest = "age_min_months", "age_max_months"
    inside = all_of(
        gte(youngest, low) if low is not None else has(youngest),
        lte(oldest, high) if high is not None else {},
    )
    outside = any_of(
        lt(oldest, low) if low is not None else {},
        gt(youngest, high) if high is not None else {},
    )
    straddles = any_of(
        all_of(lt(youngest, low), gte(oldest, low)) if low is not None else {},
        all_of(lte(youngest, high), gt(oldest, high)) if high is not None else {},
    )
    return Conditions(met=inside, not_met=outside, unknown=any_of(lacks(youngest), straddles))


def _observe_age(_: AgeCheck, case: Case) -> str | None:
    if case.age is None:
        return None
    months = case.age.in_months
    return f"{months // 12} years" if months >= 36 else f"{months} months"


# --- diagnosis ---------------------------------------------------------------------------------


def _compile_diagnosis(check: DiagnosisCheck) -> Conditions:
    """Within an included subtree and outside every excluded one.

    A case coded more coarsely than the criterion (SOFT_TISSUE against LMS, TISSUE against
    anything) could still be inside: that is unknown until the diagnosis is refined.
    """

    def node(code: str) -> str:
        return f"dx.{field_token(code)}"

    tree = bundled_oncotree()
    coarser = sorted({a for code in check.oncotree for a in tree.lineage(code)[1:]})
    within = any_of(*(has(node(code)) for code in check.oncotree))
    outside = all_of(*(lacks(node(code)) for code in check.oncotree))
    clear = all_of(*(lacks(node(code)) for code in check.exclude))
    fine = all_of(*(neq("dx_code", code) for code in coarser))
    not_met = [all_of(outside, fine), *(has(node(code)) for code in check.exclude)]
    unknown = [lacks("dx_code")]
    if coarser:
        unknown.append(all_of(outside, clear, any_of(*(eq("dx_code", a) for a in coarser))))
    return Conditions(
        met=all_of(within, clear),
        not_met=all_of(has("dx_code"), any_of(*not_met)),
        unknown=any_of(*unknown),
    )


def _observe_diagnosis(_: DiagnosisCheck, case: Case) -> str | None:
    return case.diagnosis.oncotree_code if case.diagnosis else None


# --- antigen expression ------------------------------------------------------------------------


def _compile_antigen(check: AntigenCheck) -> Conditions:
    base = f"antigen.{antigen_key(check.name)}"
    status = f"{base}.status"
    if check.status == "negative":
        return Conditions(eq(status, "negative"), eq(status, "positive"), lacks(status))
    parts = [Conditions(eq(status, "positive"), eq(status, "negative"), lacks(status))]
    if check.min_percent is not None:
        parts.append(_at_least(f"{base}.pct", check.min_percent))
    if check.min_intensity is not None:
        parts.append(_at_least(f"{base}.intensity", INTENSITY_RANK[check.min_intensity]))
    return _conjunction(parts)


def _at_least(path: str, minimum: float) -> Conditions:
    return Conditions(gte(path, minimum), lt(path, minimum), lacks(path))


def _conjunction(parts: list[Conditions]) -> Conditions:
    """`all` of leaf parts under three-valued logic, unknown spelled out (for leaf checks)."""
    if len(parts) == 1:
        return parts[0]
    unknowns = [p.unknown for p in parts if p.unknown is not None]
    return Conditions(
        met=all_of(*(p.met for p in parts)),
        not_met=any_of(*(p.not_met for p in parts)),
        unknown=all_of(
            *(any_of(p.met, p.unknown) for p in parts if p.unknown is not None),
            any_of(*unknowns),
        ),
    )


def _observe_antigen(check: AntigenCheck, case: Case) -> str | None:
    results = (case.biomarkers or Biomarkers()).antigens or []
    for result in results:
        if antigen_key(result.antigen) == antigen_key(check.name):
            percent = f" {result.percent_cells:g}%" if result.percent_cells is not None else ""
            intensity = f" {result.intensity}" if result.intensity else ""
            return f"{result.antigen} {result.status}{percent}{intensity}"
    return None


def _antigen_to_collect(check: AntigenCheck) -> str:
    details = [
        "% of cells" if check.min_percent is not None else "",
        "IHC intensity" if check.min_intensity is not None else "",
    ]
    detail = ", ".join(d for d in details if d)
    return f"{check.name} expression" + (f" ({detail})" if detail else "")


# --- somatic variants and fusions: absent only after comprehensive profiling --------------------


def _compile_variant(check: VariantCheck) -> Conditions:
    gene = f"somatic.{field_token(check.gene)}"
    if check.protein_change is None:
        return Conditions(
            met=has(gene),
            not_met=all_of(lacks(gene), eq("cgp", True)),
            unknown=all_of(lacks(gene), eq("cgp", False)),
        )
    exact = f"somatic.{variant_key(check.gene, check.protein_change)}"
    return Conditions(
        met=has(exact),
        not_met=all_of(lacks(exact), any_of(eq("cgp", True), has(gene))),
        unknown=all_of(lacks(exact), eq("cgp", False), lacks(gene)),
    )


def _observe_variant(check: VariantCheck, case: Case) -> str | None:
    markers = case.biomarkers or Biomarkers()
    seen = [
        f"{v.gene} {v.protein_change or ''}".strip()
        for v in markers.somatic_variants or []
        if v.gene == check.gene
    ]
    if seen:
        return ", ".join(seen)
    return f"no {check.gene} variant on comprehensive profiling" if _profiled(markers) else None


def _compile_fusion(check: FusionCheck) -> Conditions:
    genes = [f"fusion.{field_token(gene)}" for gene in check.genes]
    if not check.partners:
        none_seen = all_of(*(lacks(path) for path in genes))
        return Conditions(
            met=any_of(*(has(path) for path in genes)),
            not_met=all_of(none_seen, eq("cgp", True)),
            unknown=all_of(none_seen, eq("cgp", False)),
        )
    pairs = [
        f"fusion_pair.{fusion_pair_key(gene, partner)}"
        for gene in check.genes
        for partner in check.partners
    ]
    unpaired = [f"fusion_unpaired.{field_token(gene)}" for gene in (*check.genes, *check.partners)]
    no_pair = all_of(*(lacks(path) for path in pairs))
    gene_known = any_of(eq("cgp", True), *(has(path) for path in genes))
    return Conditions(
        met=any_of(*(has(path) for path in pairs)),
        not_met=all_of(no_pair, gene_known, *(lacks(path) for path in unpaired)),
        unknown=all_of(
            no_pair,
            any_of(
                all_of(eq("cgp", False), *(lacks(path) for path in genes)),
                *(has(path) for path in unpaired),
            ),
        ),
    )


def _observe_fusion(check: FusionCheck, case: Case) -> str | None:
    markers = case.biomarkers or Biomarkers()
    seen = [
        f"{f.gene_5p or '?'}::{f.gene_3p}"
        for f in markers.fusions or []
        if {f.gene_5p, f.gene_3p} & set(check.genes)
    ]
    if seen:
        return ", ".join(seen)
    return "no fusion on comprehensive profiling" if _profiled(markers) else None


def _profiled(markers: Biomarkers) -> bool:
    return markers.comprehensive_genomic_profiling is True


def _genes_text(genes: list[str]) -> str:
    return "/".join(genes)


# --- germline ----------------------------------------------------------------------------------


def _compile_germline(check: GermlineCheck) -> Conditions:
    found = [f"germline.{field_token(gene)}" for gene in check.genes]
    tested = [f"germline_tested.{field_token(gene)}" for gene in check.genes]
    none_found = all_of(*(lacks(path) for path in found))
    return Conditions(
        met=any_of(*(has(path) for path in found)),
        not_met=all_of(none_found, *(has(path) for path in tested)),
        unknown=all_of(none_found, any_of(*(lacks(path) for path in tested))),
    )


def _observe_germline(check: GermlineCheck, case: Case) -> str | None:
    markers = case.biomarkers or Biomarkers()
    seen = [
        f"{f.gene} {f.classification}"
        for f in markers.germline_findings or []
        if f.gene in check.genes
    ]
    if seen:
        return ", ".join(seen)
    tested = set(markers.germline_genes_tested or []) & set(check.genes)
    return f"tested negative: {_genes_text(sorted(tested))}" if tested else None


# --- MSI / MMR ---------------------------------------------------------------------------------


def _compile_mismatch_repair(_: MismatchRepairCheck) -> Conditions:
    """MSI-H or dMMR: not met only when both tests are reported and neither is positive."""
    high, deficient = eq("msi", "MSI-H"), eq("mmr", "deficient")
    return Conditions(
        met=any_of(high, deficient),
        not_met=all_of(has("msi"), neq("msi", "MSI-H"), has("mmr"), neq("mmr", "deficient")),
        unknown=any_of(
            all_of(lacks("msi"), lacks("mmr")),
            all_of(lacks("msi"), neq("mmr", "deficient")),
            all_of(lacks("mmr"), neq("msi", "MSI-H")),
        ),
    )


def _observe_mismatch_repair(_: MismatchRepairCheck, case: Case) -> str | None:
    markers = case.biomarkers or Biomarkers()
    parts = [
        f"MSI {markers.msi_status}" if markers.msi_status else "",
        f"MMR {markers.mmr_status}" if markers.mmr_status else "",
    ]
    return ", ".join(p for p in parts if p) or None


# --- one of a few values, and numeric bounds ------------------------------------------------


def _one_of(path: str, values: list[str] | list[bool]) -> Conditions:
    return Conditions(
        met=any_of(*(eq(path, v) for v in values)),
        not_met=all_of(has(path), *(neq(path, v) for v in values)),
        unknown=lacks(path),
    )


def _within(path: str, low: float | None, high: float | None) -> Conditions:
    return Conditions(
        met=all_of(
            gte(path, low) if low is not None else has(path),
            lte(path, high) if high is not None else {},
        ),
        not_met=any_of(
            lt(path, low) if low is not None else {},
            gt(path, high) if high is not None else {},
        ),
        unknown=lacks(path),
    )


def _values(*values: object) -> str | None:
    shown = [str(v) for v in values if v is not None]
    return ", ".join(shown) or None


def _compile_prior_therapy(check: PriorTherapyCheck) -> Conditions:
    paths = [f"prior.{therapy_key(c)}" for c in check.classes]
    return Conditions(
        met=any_of(*(has(path) for path in paths)),
        not_met=all_of(eq("prior_reported", True), *(lacks(path) for path in paths)),
        unknown=lacks("prior_reported"),
    )


def _observe_prior_therapy(check: PriorTherapyCheck, case: Case) -> str | None:
    history = case.treatment_history
    if history is None or history.prior_therapy_classes is None:
        return None
    wanted = {therapy_key(c) for c in check.classes}
    seen = [c for c in history.prior_therapy_classes if therapy_key(c) in wanted]
    return ", ".join(seen) if seen else "none of " + "/".join(check.classes)


def _observe_performance(check: PerformanceCheck, case: Case) -> str | None:
    scores = [s for s in case.performance or [] if s.scale == check.scale]
    return f"{check.scale} {scores[0].value}" if scores else None


ORGAN_MEASURE_LABELS = {
    "creatinine_clearance_ml_min": "creatinine clearance (mL/min)",
    "creatinine_x_uln": "serum creatinine (x ULN)",
    "alt_x_uln": "ALT (x ULN)",
    "ast_x_uln": "AST (x ULN)",
    "bilirubin_x_uln": "total bilirubin (x ULN)",
    "lvef_percent": "LVEF (%)",
    "anc_per_ul": "absolute neutrophil count (/uL)",
    "platelets_per_ul": "platelet count (/uL)",
    "hemoglobin_g_dl": "haemoglobin (g/dL)",
}


def _observe_organ(check: OrganFunctionCheck, case: Case) -> str | None:
    value = getattr(case.organ_function, check.measure, None) if case.organ_function else None
    return f"{ORGAN_MEASURE_LABELS[check.measure]} {value:g}" if value is not None else None


# --- HLA ---------------------------------------------------------------------------------------


def _compile_hla(check: HlaCheck) -> Conditions:
    wanted = restriction(parse_allele(check.allele))
    absent = all_of(*(lacks(path) for path in wanted.proving))
    locus = f"hla_loci.{wanted.locus}"
    return Conditions(
        met=any_of(*(has(path) for path in wanted.proving)),
        not_met=all_of(absent, has(locus), *(settled for _, settled in wanted.undecided)),
        unknown=all_of(absent, any_of(lacks(locus), *(open_ for open_, _ in wanted.undecided))),
    )


def _observe_hla(check: HlaCheck, case: Case) -> str | None:
    """Only the typed alleles that bear on the wanted one: the same allele at a finer or a
    coarser resolution (A*02:01:01 or A*02 for A*02:01; for a group or an antigen, what it
    proves). The rest of a patient's HLA type
    is theirs, not the coordinator's; a locus typed without any of them observes nothing."""
    wanted = parse_allele(check.allele)
    bearing = []
    for text in case.hla_alleles or []:
        typed = parse_allele(text)
        proven, named = typed.resolution, wanted.resolution  # a group proves its first field
        shared = min(len(proven), len(named))
        if typed.locus == wanted.locus and proven[:shared] == named[:shared]:
            bearing.append(text)
    return ", ".join(dict.fromkeys(bearing)) or None


_KINDS: dict[type, _Kind] = {
    AgeCheck: _Kind(_compile_age, _observe_age, lambda c: "age"),
    SexCheck: _Kind(lambda c: _one_of("sex", c.is_), lambda c, case: case.sex, lambda c: "sex"),
    CountryCheck: _Kind(
        lambda c: _one_of("country", c.all_countries),
        lambda c, case: case.country,
        lambda c: "country of treatment",
    ),
    DiseaseStatusCheck: _Kind(
        lambda c: _one_of("dx_status", c.is_),
        lambda c, case: _values(case.diagnosis and case.diagnosis.disease_status),
        lambda c: "disease status (newly diagnosed, relapsed or refractory)",
    ),
    ExtentCheck: _Kind(
        lambda c: _one_of("dx_extent", c.is_),
        lambda c, case: _values(case.diagnosis and case.diagnosis.extent),
        lambda c: "disease extent",
    ),
    CnsInvolvementCheck: _Kind(
        lambda c: _one_of("cns", [c.present]),
        lambda c, case: _values(case.diagnosis and case.diagnosis.cns_involvement),
        lambda c: "CNS involvement",
    ),
    TmbCheck: _Kind(
        lambda c: _within("tmb", c.min, c.max),
        lambda c, case: _values(case.biomarkers and case.biomarkers.tmb_mut_per_mb),
        lambda c: "tumour mutational burden",
    ),
    PerformanceCheck: _Kind(
        lambda c: _within(f"perf.{c.scale}", c.min, c.max),
        _observe_performance,
        lambda c: f"{c.scale} performance status",
        lambda c: c.scale,
    ),
    PriorLinesCheck: _Kind(
        lambda c: _within("prior_lines", c.min, c.max),
        lambda c, case: _values(case.treatment_history and case.treatment_history.prior_lines),
        lambda c: "number of prior lines of therapy",
    ),
    PriorTherapyCheck: _Kind(
        _compile_prior_therapy,
        _observe_prior_therapy,
        lambda c: "prior therapies (" + "/".join(c.classes) + ")",
        lambda c: tuple(c.classes),
    ),
    OrganFunctionCheck: _Kind(
        lambda c: _within(f"organ.{c.measure}", c.min, c.max),
        _observe_organ,
        lambda c: ORGAN_MEASURE_LABELS[c.measure],
        lambda c: c.measure,
    ),
    DiagnosisCheck: _Kind(
        _compile_diagnosis, _observe_diagnosis, lambda c: "diagnosis (OncoTree code)"
    ),
    AntigenCheck: _Kind(
        _compile_antigen, _observe_antigen, _antigen_to_collect, lambda c: antigen_key(c.name)
    ),
    VariantCheck: _Kind(
        _compile_variant,
        _observe_variant,
        lambda c: f"somatic {c.gene} status (or comprehensive genomic profiling)",
        lambda c: c.gene,
    ),
    FusionCheck: _Kind(
        _compile_fusion,
        _observe_fusion,
        lambda c: f"{_genes_text(c.genes)} fusion status (or comprehensive genomic profiling)",
        lambda c: tuple(c.genes),
    ),
    GermlineCheck: _Kind(
        _compile_germline,
        _observe_germline,
        lambda c: f"germline testing of {_genes_text(c.genes)}",
        lambda c: tuple(c.genes),
    ),
    MismatchRepairCheck: _Kind(
        _compile_mismatch_repair, _observe_mismatch_repair, lambda c: "MSI or MMR status"
    ),
    HlaCheck: _Kind(
        _compile_hla,
        _observe_hla,
        lambda c: f"HLA-{parse_allele(c.allele).locus} typing at {c.allele} resolution",
        lambda c: str(parse_allele(c.allele)),
    ),
}
