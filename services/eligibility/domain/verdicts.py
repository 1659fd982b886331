"""Reading the engine: which rules fired for a program, and what that means for it.

The engine's verdicts are the names of the rules that fired (`inclusion/<id>/met`, …; see
eligibility.domain.screen). A criterion for which neither its met nor its not-met rule fired is
unknown. This module turns those names into a `Plan`: each criterion's status, the program's
outcome, and the facts worth collecting; no condition is evaluated here.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from rarematch.common.contracts import CriterionResult, CriterionStatus, Outcome, Tier
from rarematch.eligibility.domain.checks import (
    facts_to_collect,
    leaf_paths,
    observation_key,
    what_to_collect,
)
from rarematch.eligibility.domain.criteria import Composite, Criterion, Program
from rarematch.eligibility.domain.engine import EngineError
from rarematch.eligibility.domain.screen import DECIDED, FAIL_PREFIX, verdict_rule_name

__all__ = ["CompiledProgram", "Plan", "roll_up", "tier_of"]

_UNKNOWN = CriterionStatus.UNKNOWN


@dataclass(frozen=True, slots=True)
class Plan:
    """What one set of fired rules means for a program, whatever the case."""

    outcome: Outcome
    statuses: tuple[CriterionStatus, ...]
    """Per criterion, in `Program.sections` order; empty when the screen failed the program."""
    facts_to_collect: tuple[str, ...]
    tier: Tier | None = None


_SCREENED_OUT = Plan(Outcome.INELIGIBLE, (), ())


@dataclass(frozen=True, slots=True)
class _Slot:
    """Where a verdict rule's firing goes: `position` in the verdict vector (criteria first,
    then the leaves of compositions), and the status it records there."""

    position: int
    status: CriterionStatus


class CompiledProgram:
    """One program's rulesets in the engine, and how to read the rules they fire."""

    def __init__(self, program: Program, version: str) -> None:
        self.program = program
        self.ruleset = f"{version}:{program.id}"
        """Met and not-met rules of every criterion: explanations, tests, `evaluate`."""
        self.screen = f"{version}:screen:{program.id}"
        """The service's ruleset for gate candidates (eligibility.domain.screen)."""
        self.observation_keys = tuple(observation_key(c) for _, c in program.sections)
        """Per criterion, for `Observer`: computed once, not per decision."""
        self.section_names = tuple(section for section, _ in program.sections)
        nodes = [(section, criterion.id) for section, criterion in program.sections]
        leaf_spans: list[tuple[int, int] | None] = []
        for section, criterion in program.sections:
            paths = _leaf_paths(criterion)
            leaf_spans.append((len(nodes), len(nodes) + len(paths)) if paths else None)
            nodes += [(section, f"{criterion.id}@{path}") for path in paths]
        self.leaf_spans = tuple(leaf_spans)
        """Per criterion, where its leaves' verdicts sit in the vector (None: a plain check)."""
        self.defining = tuple(criterion.is_defining for _, criterion in program.sections)
        self.facts_if_unknown = tuple(tuple(facts_to_collect(c)) for _, c in program.sections)
        """Per criterion, what to collect when it is unknown (for a composition, everything it
        could need: `_composite_to_collect` narrows that down by its leaves)."""
        self.width = len(nodes)
        """Length of the verdict vector: one status per criterion, then per leaf."""
        self._slots = {
            verdict_rule_name(section, node_id, status): _Slot(position, status)
            for position, (section, node_id) in enumerate(nodes)
            for status in DECIDED
        }

    def plan(self, fired: Iterable[str]) -> Plan:
        """What the fired rules say: verdicts, roll-up and facts to collect."""
        verdicts = [_UNKNOWN] * self.width
        slots = self._slots
        for name in fired:
            slot = slots.get(name)
            if slot is None:
                if name.startswith(FAIL_PREFIX):
                    return _SCREENED_OUT
                raise EngineError(f"{self.program.id}: the engine fired unknown rule {name}")
            if verdicts[slot.position] is not _UNKNOWN:
                node = name.rsplit("/", 1)[0]
                raise EngineError(f"{self.program.id}: {node} is both met and not met")
            verdicts[slot.position] = slot.status
        return _plan(self, tuple(verdicts))


@functools.lru_cache(maxsize=1 << 16)
def _plan(compiled: CompiledProgram, verdicts: tuple[CriterionStatus, ...]) -> Plan:
    """The same verdicts recur across cases, and facts to collect for a composition take a
    walk of its tree: each program's distinct verdict vectors are planned once. Bounded: at
    most 65,536 plans, about 40 MB; after a reload, plans of old programs age out."""
    statuses = verdicts[: len(compiled.section_names)]
    outcome = _outcome(zip(compiled.section_names, statuses, strict=True))
    to_collect: list[str] = []
    if outcome is Outcome.NEEDS_INFO:
        for index, status in enumerate(statuses):
            if status is _UNKNOWN:
                to_collect += _to_collect(compiled, index, verdicts)
    tier = tier_of(outcome, statuses, compiled.defining)
    return Plan(outcome, statuses, tuple(dict.fromkeys(to_collect)), tier)


def tier_of(
    outcome: Outcome, statuses: Iterable[CriterionStatus], defining: Iterable[bool]
) -> Tier | None:
    """`eligible`; for needs_info `possible` while a defining criterion is unknown, else
    `likely`; None for a decision that is not open."""
    if outcome is Outcome.ELIGIBLE:
        return Tier.ELIGIBLE
    if outcome is not Outcome.NEEDS_INFO:
        return None
    unknown_defining = any(
        status is _UNKNOWN and is_defining
        for status, is_defining in zip(statuses, defining, strict=True)
    )
    return Tier.POSSIBLE if unknown_defining else Tier.LIKELY


def _to_collect(
    compiled: CompiledProgram, index: int, verdicts: tuple[CriterionStatus, ...]
) -> tuple[str, ...]:
    leaves = compiled.leaf_spans[index]
    if leaves is None:
        return compiled.facts_if_unknown[index]
    return _composite_to_collect(compiled, index, verdicts[leaves[0] : leaves[1]])


@functools.lru_cache(maxsize=1 << 14)
def _composite_to_collect(
    compiled: CompiledProgram, index: int, leaf_verdicts: tuple[CriterionStatus, ...]
) -> tuple[str, ...]:
    section, criterion = compiled.program.sections[index]
    paths = _leaf_paths(criterion)
    by_path = dict(zip(paths, leaf_verdicts, strict=True))
    status, facts = what_to_collect(criterion, by_path.__getitem__)
    if status is not _UNKNOWN:
        raise EngineError(
            f"{compiled.program.id}: {section}/{criterion.id} is unknown to the engine, "
            f"but its parts say {status.value}"
        )
    return tuple(facts)


def _leaf_paths(criterion: Criterion) -> list[str]:
    if not isinstance(criterion.node, Composite):
        return []
    return [path for path, _ in leaf_paths(criterion)]


def roll_up(results: list[CriterionResult]) -> Outcome:
    """A definite failure outranks unknowns; an exclusion that is met is a failure."""
    return _outcome((r.section, r.status) for r in results)


def _outcome(statuses: Iterable[tuple[str, CriterionStatus]]) -> Outcome:
    unknown = False
    for section, status in statuses:
        if status is _UNKNOWN:
            unknown = True
        elif (status is CriterionStatus.NOT_MET) == (section == "inclusion"):
            return Outcome.INELIGIBLE
    return Outcome.NEEDS_INFO if unknown else Outcome.ELIGIBLE
