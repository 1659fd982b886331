"""Compile programs into engine rulesets, and roll each program's criteria up into a decision."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from eligibility.domain.checks import (
    Observer,
    compile_check,
    facts_to_collect,
    leaf_paths,
    what_to_collect,
)
from eligibility.domain.criteria import Composite, Criterion, Program
from eligibility.domain.engine import EngineError, RuleEngine, RulesetDefinition
from eligibility.domain.facts import case_fact
from eligibility.domain.gate import Gates, build_gates
from eligibility.domain.oncotree import OncoTree
from rarematch_common.contracts import CriterionResult, CriterionStatus, MatchDecided, Outcome
from rarematch_common.contracts.case import Case

__all__ = [
    "CompiledRules",
    "compile_rules",
    "decide",
    "decide_program",
    "evaluate",
    "evaluate_candidates",
    "publishable_decisions",
    "roll_up",
]

Section = Literal["inclusion", "exclusion"]
_DECIDED = (CriterionStatus.MET, CriterionStatus.NOT_MET)
"""Statuses with a rule each; a criterion for which neither rule fires is unknown."""


@dataclass(frozen=True)
class CompiledRules:
    """Programs, their rulesets in one engine, and the version (content hash) they came from."""

    programs: tuple[Program, ...]
    engine: RuleEngine
    version: str
    oncotree: OncoTree
    gates: Gates

    def ruleset_name(self, program: Program) -> str:
        return f"{self.version}:{program.id}"

    @functools.cached_property
    def by_id(self) -> dict[str, Program]:
        return {program.id: program for program in self.programs}

    @functools.cached_property
    def position(self) -> dict[str, int]:
        return {program.id: index for index, program in enumerate(self.programs)}


def compile_rules(programs: Iterable[Program], version: str, oncotree: OncoTree) -> CompiledRules:
    programs = tuple(programs)
    open_programs = [p for p in programs if p.status != "closed"]
    gates = build_gates(open_programs, version)
    engine = RuleEngine({f"{version}:{p.id}": _ruleset(p) for p in programs} | gates.rulesets)
    return CompiledRules(programs, engine, version, oncotree, gates)


def _ruleset(program: Program) -> RulesetDefinition:
    rules: RulesetDefinition = {}
    for section, criterion in program.sections:
        conditions = compile_check(criterion)
        for status in _DECIDED:
            rules[_rule_name(section, criterion.id, status)] = getattr(conditions, status.value)
        if isinstance(criterion.node, Composite):  # leaf verdicts, to explain an unknown
            for path, leaf in leaf_paths(criterion):
                leaf_conditions = compile_check(leaf)
                for status in _DECIDED:
                    name = _rule_name(section, f"{criterion.id}@{path}", status)
                    rules[name] = getattr(leaf_conditions, status.value)
    return rules


def _rule_name(section: str, node_id: str, status: CriterionStatus) -> str:
    return f"{section}/{node_id}/{status.value}"


def evaluate(case: Case, rules: CompiledRules, now: datetime) -> list[MatchDecided]:
    """One decision per program that is not closed, in catalogue order."""
    open_programs = [program for program in rules.programs if program.status != "closed"]
    return _decide_all(case, open_programs, case_fact(case, rules.oncotree), rules, now)


def evaluate_candidates(case: Case, rules: CompiledRules, now: datetime) -> list[MatchDecided]:
    """Decisions for the open programs that pass the gate, in catalogue order.

    Every program left out would have been `ineligible`; those that remain may still be.
    """
    fact = case_fact(case, rules.oncotree)
    return _decide_all(case, _candidates(fact, rules), fact, rules, now)


def _decide_all(
    case: Case,
    programs: list[Program],
    fact: dict[str, object],
    rules: CompiledRules,
    now: datetime,
) -> list[MatchDecided]:
    fired = rules.engine.fired_in([rules.ruleset_name(p) for p in programs], fact)
    return [decide(case, p, fired[rules.ruleset_name(p)], rules, now) for p in programs]


def decide_program(
    case: Case, program: Program, rules: CompiledRules, now: datetime
) -> MatchDecided:
    """The decision for one program (closed or not): for program tests and explanations."""
    [decision] = _decide_all(case, [program], case_fact(case, rules.oncotree), rules, now)
    return decision


def _candidates(fact: dict[str, object], rules: CompiledRules) -> list[Program]:
    """Open programs whose gate fired (or that have none), in catalogue order."""
    passed = rules.gates.always.union(*rules.engine.fired_in(rules.gates.rulesets, fact).values())
    ordered = sorted(passed, key=rules.position.__getitem__)
    return [rules.by_id[program_id] for program_id in ordered]


def publishable_decisions(case: Case, rules: CompiledRules, now: datetime) -> list[MatchDecided]:
    """What the service publishes: decisions that are not `ineligible`, in catalogue order.

    The same engine verdicts as `evaluate_candidates`, but a program whose roll-up is
    ineligible is dropped before its decision (reasons, observed values) is built.
    """
    fact = case_fact(case, rules.oncotree)
    candidates = _candidates(fact, rules)
    fired = rules.engine.fired_in([rules.ruleset_name(p) for p in candidates], fact)
    decisions = []
    observe_case = Observer(case)
    for program in candidates:
        verdicts = _verdicts(program, fired[rules.ruleset_name(program)])
        outcome = _roll_up(verdicts, program)
        if outcome is not Outcome.INELIGIBLE:
            decisions.append(_decision(observe_case, program, verdicts, outcome, rules, now))
    return decisions


def decide(
    case: Case, program: Program, fired: list[str], rules: CompiledRules, now: datetime
) -> MatchDecided:
    verdicts = _verdicts(program, fired)
    return _decision(Observer(case), program, verdicts, _roll_up(verdicts, program), rules, now)


def _decision(
    observe_case: Observer,
    program: Program,
    verdicts: dict[tuple[str, str], CriterionStatus],
    outcome: Outcome,
    rules: CompiledRules,
    now: datetime,
) -> MatchDecided:
    results = [
        _result(
            criterion.id,
            section,
            verdicts[(section, criterion.id)],
            criterion.text,
            observe_case(criterion),
        )
        for section, criterion in program.sections
    ]
    to_collect: list[str] = []
    if outcome is Outcome.NEEDS_INFO:
        to_collect = [
            fact
            for section, criterion in program.sections
            if verdicts[(section, criterion.id)] is CriterionStatus.UNKNOWN
            for fact in _to_collect(program, section, criterion, verdicts)
        ]
    return MatchDecided.model_construct(
        case_id=observe_case.case_id,
        program_id=program.id,
        program_title=program.title,
        routes=list(program.notify),
        program_area=program.area,
        site_countries=program.site_countries,
        outcome=outcome,
        criteria=results,
        facts_to_collect=list(dict.fromkeys(to_collect)),
        rules_version=rules.version,
        decided_at=now,
    )


@functools.lru_cache(maxsize=1 << 16)
def _result(
    criterion_id: str,
    section: Section,
    status: CriterionStatus,
    text: str,
    observed: str | None,
) -> CriterionResult:
    """Results are immutable and repeat across cases (unknown criteria observe nothing), so
    they are shared; decisions are built by the hundred per case. Every value comes from
    validated models, so they are constructed without validating again."""
    return CriterionResult.model_construct(
        criterion_id=criterion_id, section=section, status=status, text=text, observed=observed
    )


def _to_collect(
    program: Program,
    section: Section,
    criterion: Criterion,
    verdicts: dict[tuple[str, str], CriterionStatus],
) -> list[str]:
    if not isinstance(criterion.node, Composite):
        return facts_to_collect(criterion)

    def leaf(path: str) -> CriterionStatus:
        return verdicts.get((section, f"{criterion.id}@{path}"), CriterionStatus.UNKNOWN)

    status, facts = what_to_collect(criterion, leaf)
    if status is not CriterionStatus.UNKNOWN:
        raise EngineError(
            f"{program.id}: {section}/{criterion.id} is unknown to the engine, "
            f"but its parts say {status.value}"
        )
    return facts


def _verdicts(program: Program, fired: list[str]) -> dict[tuple[str, str], CriterionStatus]:
    """What the engine decided per criterion (and per part of a composition): met, not met,
    or neither (unknown)."""
    verdicts = dict.fromkeys(program.criterion_keys, _UNKNOWN)
    for name in fired:
        key, status = _parse_rule_name(name)
        if verdicts.get(key, _UNKNOWN) is not _UNKNOWN:
            raise EngineError(f"{program.id}: {'/'.join(key)} is both met and not met")
        verdicts[key] = status
    return verdicts


@functools.cache
def _parse_rule_name(name: str) -> tuple[tuple[str, str], CriterionStatus]:
    section, node_id, status = name.split("/")
    return (section, node_id), CriterionStatus(status)


_UNKNOWN = CriterionStatus.UNKNOWN


def roll_up(results: list[CriterionResult]) -> Outcome:
    """A definite failure outranks unknowns; an exclusion that is met is a failure."""
    return _outcome((r.section, r.status) for r in results)


def _roll_up(verdicts: dict[tuple[str, str], CriterionStatus], program: Program) -> Outcome:
    """`roll_up` straight from the verdicts (hot path: no result objects built)."""
    return _outcome((key[0], verdicts[key]) for key in program.criterion_keys)


def _outcome(statuses: Iterable[tuple[str, CriterionStatus]]) -> Outcome:
    unknown = False
    for section, status in statuses:
        if status is _UNKNOWN:
            unknown = True
        elif (status is CriterionStatus.NOT_MET) == (section == "inclusion"):
            return Outcome.INELIGIBLE
    return Outcome.NEEDS_INFO if unknown else Outcome.ELIGIBLE
