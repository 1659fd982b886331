"""The first engine stage: which programs could still apply to a case, decided in bulk.

For each program, a *gate* rule fires when none of its gating criteria is definitely not met:
each selective top-level inclusion check (diagnosis, biomarkers, HLA, age) must be met or
unknown. A program whose gate does not fire has an inclusion criterion that is not met, so
its full evaluation can only be `ineligible` — it is skipped without changing any decision
(the property test in tests/unit/test_gate.py checks exactly that). Gate rules are packed a
few dozen per ruleset, since durable-rules slows and then fails on very large rulesets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from eligibility.domain.checks import compile_check
from eligibility.domain.conditions import Condition, all_of, any_of
from eligibility.domain.criteria import (
    AgeCheck,
    AntigenCheck,
    Composite,
    DiagnosisCheck,
    FusionCheck,
    GermlineCheck,
    HlaCheck,
    MismatchRepairCheck,
    Program,
    VariantCheck,
)
from eligibility.domain.engine import RulesetDefinition

__all__ = ["GATED_CHECKS", "Gates", "build_gates", "gate_condition"]

GATED_CHECKS = (
    DiagnosisCheck,
    VariantCheck,
    FusionCheck,
    GermlineCheck,
    AntigenCheck,
    MismatchRepairCheck,
    HlaCheck,
    AgeCheck,
)
"""Selective checks, most selective first; each adds one `met or unknown` term."""

RULES_PER_GATE_RULESET = 48
MAX_ALTERNATIVES = 24
"""Bound on the gate's size once its and/or are multiplied out, as the engine does."""


@dataclass(frozen=True)
class Gates:
    rulesets: dict[str, RulesetDefinition]
    """Gate ruleset name -> rules named by program id."""
    always: frozenset[str]
    """Programs with nothing to gate on: always evaluated in full."""


def build_gates(programs: Iterable[Program], prefix: str) -> Gates:
    gated: list[tuple[str, Condition]] = []
    always: set[str] = set()
    for program in programs:
        condition = gate_condition(program)
        if condition is None:
            always.add(program.id)
        else:
            gated.append((program.id, condition))
    rulesets = {
        f"{prefix}:gate:{start // RULES_PER_GATE_RULESET}": dict(
            gated[start : start + RULES_PER_GATE_RULESET]
        )
        for start in range(0, len(gated), RULES_PER_GATE_RULESET)
    }
    return Gates(rulesets, frozenset(always))


def gate_condition(program: Program) -> Condition | None:
    """All of `met or unknown` over the program's selective top-level inclusion checks."""
    terms: list[Condition] = []
    alternatives = 1
    for kind in GATED_CHECKS:
        for criterion in program.inclusion:
            check = criterion.node
            if isinstance(check, Composite) or not isinstance(check, kind):
                continue
            conditions = compile_check(criterion)
            assert conditions.unknown is not None, "leaf checks spell out unknown"
            possible = any_of(conditions.met, conditions.unknown)
            size = _alternatives(possible)
            if alternatives * size > MAX_ALTERNATIVES:
                continue
            alternatives *= size
            terms.append(possible)
    return all_of(*terms) if terms else None


def _alternatives(condition: Condition) -> int:
    """How many and-only branches `condition` becomes when its ors are multiplied out."""
    if "$or" in condition:
        return sum(_alternatives(c) for c in condition["$or"])
    if "$and" in condition:
        product = 1
        for c in condition["$and"]:
            product *= _alternatives(c)
        return product
    return 1
