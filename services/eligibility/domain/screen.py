"""The second engine stage: one assert per gate candidate says whether it fails, and if not,
what each of its criteria is.

The gate lets through every program that could apply, but cannot afford all criteria, so
about four candidates in ten still fail. A program's full ruleset (met and not-met rules for
every criterion) would say so, at the cost of twice the rules a candidate needs. The screen
ruleset of a program holds:

- `fail/<n>/any`: fires when any inclusion is not met or any exclusion is met, chunked so no
  rule grows past what durable-rules accepts; the program is then ineligible;
- one rule per criterion, for the status that lets a case through: `inclusion/<id>/met`,
  `exclusion/<id>/not_met`. When no fail rule fired, nothing is not met (or met, for an
  exclusion), so a criterion whose rule did not fire is unknown;
- the met and not-met rules of composition leaves, to tell what to collect for an unknown.

Every condition comes from `compile_check`, exactly as in the full ruleset, and
tests/unit/test_gate.py checks that decisions read from the screen equal full evaluation.
"""

from __future__ import annotations

from collections.abc import Iterator

from rarematch.common.contracts import CriterionStatus
from rarematch.eligibility.domain.checks import compile_check, leaf_paths, opposite
from rarematch.eligibility.domain.conditions import Condition, any_of, operator_count
from rarematch.eligibility.domain.criteria import Composite, Criterion, Program
from rarematch.eligibility.domain.engine import MAX_OPERATORS_PER_CONDITION, RulesetDefinition

__all__ = ["DECIDED", "FAIL_PREFIX", "leaf_rules", "screen_ruleset", "verdict_rule_name"]

FAIL_PREFIX = "fail/"
DECIDED = (CriterionStatus.MET, CriterionStatus.NOT_MET)
"""Statuses with a rule each; a criterion for which neither rule fires is unknown."""
_PASSING = {"inclusion": CriterionStatus.MET, "exclusion": CriterionStatus.NOT_MET}


def verdict_rule_name(section: str, node_id: str, status: CriterionStatus) -> str:
    """The rule that fires when criterion (or leaf) `node_id` has `status`."""
    return f"{section}/{node_id}/{status.value}"


def screen_ruleset(program: Program) -> RulesetDefinition:
    rules: RulesetDefinition = {}
    failing: list[Condition] = []
    for section, criterion in program.sections:
        conditions = compile_check(criterion)
        passing = _PASSING[section]
        rules[verdict_rule_name(section, criterion.id, passing)] = conditions.of(passing)
        failing.append(conditions.of(opposite(passing)))
        rules |= leaf_rules(section, criterion)
    for index, chunk in enumerate(_chunks(failing)):
        rules[f"{FAIL_PREFIX}{index}/any"] = any_of(*chunk)
    return rules


def leaf_rules(section: str, criterion: Criterion) -> RulesetDefinition:
    """Met and not-met rules for each leaf of a composition (none for a plain check)."""
    if not isinstance(criterion.node, Composite):
        return {}
    rules: RulesetDefinition = {}
    for path, leaf in leaf_paths(criterion):
        conditions = compile_check(leaf)
        for status in DECIDED:
            rules[verdict_rule_name(section, f"{criterion.id}@{path}", status)] = conditions.of(
                status
            )
    return rules


def _chunks(conditions: list[Condition]) -> Iterator[list[Condition]]:
    """Consecutive runs that fit one rule once joined by `$or` (a large condition alone)."""
    chunk: list[Condition] = []
    size = 0
    for condition in conditions:
        count = operator_count(condition)
        if chunk and 1 + size + count > MAX_OPERATORS_PER_CONDITION:
            yield chunk
            chunk, size = [], 0
        chunk.append(condition)
        size += count
    if chunk:
        yield chunk
