"""The first engine stage: which programs could still apply to a case, decided in bulk.

For each program, a *gate* rule fires when none of its gating criteria definitely fails: each
inclusion taken must be met or unknown, each exclusion not met or unknown. A program whose gate
does not fire has a criterion that fails, so its full evaluation can only be `ineligible` — it
is skipped without changing any decision (the property test in tests/unit/test_gate.py checks
exactly that). The most selective criteria are taken first, as many as keep the rule small:
"met or unknown" is an `$or`, and the rule's alternatives multiply, so where a leaf's "not
failing" is one test over probe fields (eligibility.domain.probes) that form is used. Gate
rules are packed a few dozen per ruleset, since durable-rules slows and then fails on very
large rulesets. Candidates then go through their screen (eligibility.domain.screen).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rarematch.common.contracts import CriterionStatus
from rarematch.eligibility.domain.checks import compile_check, opposite
from rarematch.eligibility.domain.conditions import Condition, all_of, any_of, operator_count
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
    Program,
    SexCheck,
    TmbCheck,
    VariantCheck,
)
from rarematch.eligibility.domain.engine import MAX_OPERATORS_PER_CONDITION, RulesetDefinition
from rarematch.eligibility.domain.probes import Probes, negate

__all__ = [
    "GATED_CHECKS",
    "MAX_ALTERNATIVES",
    "Gates",
    "alternative_count",
    "build_gates",
    "could_be_met",
    "could_fail",
    "gate_condition",
]

GATED_CHECKS = (
    DiagnosisCheck,
    VariantCheck,
    FusionCheck,
    GermlineCheck,
    AntigenCheck,
    MismatchRepairCheck,
    HlaCheck,
    AgeCheck,
    PerformanceCheck,
    PriorLinesCheck,
    OrganFunctionCheck,
    DiseaseStatusCheck,
    ExtentCheck,
    TmbCheck,
    SexCheck,
    CountryCheck,
    CnsInvolvementCheck,
    PriorTherapyCheck,
)
"""Leaf checks by selectivity: the gate takes them first, then compositions."""

RULES_PER_GATE_RULESET = 48
ALTERNATIVES_PER_GATE_RULESET = 1536
"""Packing bounds. With 96 rules (~2,500 alternatives) per ruleset, durable-rules 2.0.28 has
crashed the process at assert time (free(): invalid pointer); 48 rules and ~1,700
alternatives ran clean through every test and benchmark. Stay well inside that."""
MAX_ALTERNATIVES = 32
"""Bound on one gate rule once its and/or are multiplied out, as the engine does; larger
rules are refused at compile time (error 113)."""


@dataclass(frozen=True)
class Gates:
    rulesets: dict[str, RulesetDefinition]
    """Gate ruleset name -> rules named by program id."""
    always: frozenset[str]
    """Programs with nothing to gate on: always evaluated in full."""
    probes: Probes
    """Probe fields the gate rules read (eligibility.domain.probes)."""

    def fact(self, fact: dict[str, Any]) -> dict[str, Any]:
        """What the gate rulesets are asserted with: the case fact and its probes."""
        return self.probes.gate_fact(fact)


def build_gates(programs: Iterable[Program], prefix: str) -> Gates:
    gated: list[tuple[str, Condition]] = []
    always: set[str] = set()
    probes = Probes()
    for program in programs:
        condition = gate_condition(program, probes)
        if condition is None:
            always.add(program.id)
        else:
            gated.append((program.id, condition))
    rulesets: dict[str, RulesetDefinition] = {}
    current: RulesetDefinition = {}
    size = 0
    for program_id, condition in gated:
        alternatives = alternative_count(condition)
        full = len(current) == RULES_PER_GATE_RULESET
        if current and (full or size + alternatives > ALTERNATIVES_PER_GATE_RULESET):
            rulesets[f"{prefix}:gate:{len(rulesets)}"] = current
            current, size = {}, 0
        current[program_id] = condition
        size += alternatives
    if current:
        rulesets[f"{prefix}:gate:{len(rulesets)}"] = current
    return Gates(rulesets, frozenset(always), probes)


def gate_condition(program: Program, probes: Probes) -> Condition | None:
    """All of "could still hold" over the program's criteria, most selective first.

    An inclusion could still hold unless it is not met; an exclusion could still let the case
    through unless it is met. Terms are added while the multiplied-out size stays small and
    the rule within what the engine takes; the probes of the terms taken go to `probes`.
    """
    terms: list[Condition] = []
    alternatives = 1
    for excluding, criterion in sorted(
        (
            *((False, c) for c in program.inclusion),
            *((True, c) for c in program.exclusion),
        ),
        key=lambda item: _selectivity(item[1]),
    ):
        term_probes = Probes()
        term = (
            could_fail(criterion, term_probes)
            if excluding
            else could_be_met(criterion, term_probes)
        )
        size = alternative_count(term)
        too_large = operator_count(all_of(*terms, term)) > MAX_OPERATORS_PER_CONDITION
        if alternatives * size > MAX_ALTERNATIVES or too_large:
            continue
        alternatives *= size
        terms.append(term)
        probes.add(term_probes)
    return all_of(*terms) if terms else None


def could_be_met(node: CheckNode, probes: Probes) -> Condition:
    """Not "not met": met or unknown."""
    return _could_be(CriterionStatus.MET, node, probes)


def could_fail(node: CheckNode, probes: Probes) -> Condition:
    """Not "met": not met or unknown."""
    return _could_be(CriterionStatus.NOT_MET, node, probes)


def _could_be(status: CriterionStatus, node: CheckNode, probes: Probes) -> Condition:
    """`status` or unknown, through all / any / not (three-valued logic)."""
    inner = node.node
    if not isinstance(inner, Composite):
        conditions = compile_check(node)
        holds, fails = conditions.of(status), conditions.of(opposite(status))
        return _smaller(holds, conditions.unknown, fails, probes)
    if inner.operator == "not":
        return _could_be(opposite(status), inner.children[0], probes)
    # `all` is met only if every part could be, and fails if any part could (`any`: dually)
    every_part = (inner.operator == "all") == (status is CriterionStatus.MET)
    combine = all_of if every_part else any_of
    return combine(*(_could_be(status, child, probes) for child in inner.children))


def _smaller(
    holds: Condition, unknown: Condition | None, fails: Condition, probes: Probes
) -> Condition:
    """ "Holds or unknown", or "not fails" over probes where that has fewer alternatives.

    For a leaf check the three statuses are exclusive and exhaustive (a property test proves
    it), so both say the same.
    """
    assert unknown is not None, "leaf checks spell out unknown"
    plain = any_of(holds, unknown)
    negation = negate(fails)
    if negation is None or alternative_count(negation[0]) >= alternative_count(plain):
        return plain
    probes.add(negation[1])
    return negation[0]


def _selectivity(criterion: CheckNode) -> int:
    inner = criterion.node
    kinds = [type(inner)] if not isinstance(inner, Composite) else []
    return next(
        (rank for rank, kind in enumerate(GATED_CHECKS) if kind in kinds), len(GATED_CHECKS)
    )


def alternative_count(condition: Condition) -> int:
    """How many and-only branches `condition` becomes when its ors are multiplied out."""
    if "$or" in condition:
        return sum(alternative_count(c) for c in condition["$or"])
    if "$and" in condition:
        product = 1
        for c in condition["$and"]:
            product *= alternative_count(c)
        return product
    return 1
