"""Compile programs into engine rulesets, and decide cases with them.

Three paths over the same rules: `evaluate` (every open program's full ruleset: the reference),
`evaluate_candidates` (full rulesets of the programs the gate lets through) and
`publishable_decisions`, what the service runs: the gate, then each candidate's screen
ruleset, and a decision built only for what will be published.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from rarematch.common.contracts import CriterionResult, CriterionStatus, MatchDecided, Outcome
from rarematch.common.contracts.case import Case
from rarematch.common.contracts.match import bounded_observed
from rarematch.eligibility.domain.checks import Observer, compile_check
from rarematch.eligibility.domain.criteria import Program
from rarematch.eligibility.domain.engine import EngineError, RuleEngine, RulesetDefinition
from rarematch.eligibility.domain.facts import case_fact
from rarematch.eligibility.domain.gate import Gates, build_gates
from rarematch.eligibility.domain.oncotree import OncoTree
from rarematch.eligibility.domain.screen import (
    DECIDED,
    leaf_rules,
    screen_ruleset,
    verdict_rule_name,
)
from rarematch.eligibility.domain.verdicts import CompiledProgram, Plan, roll_up

__all__ = [
    "CompiledRules",
    "compile_rules",
    "decide",
    "decide_program",
    "decide_programs",
    "evaluate",
    "evaluate_candidates",
    "program_rulesets",
    "publishable_decisions",
    "roll_up",
]

Section = Literal["inclusion", "exclusion"]


@dataclass(frozen=True)
class CompiledRules:
    """Programs, their rulesets in one engine, and the version (content hash) they came from."""

    programs: tuple[Program, ...]
    engine: RuleEngine
    version: str
    oncotree: OncoTree
    gates: Gates
    compiled: dict[str, CompiledProgram]
    """By program id, in catalogue order."""

    @functools.cached_property
    def position(self) -> dict[str, int]:
        return {program.id: index for index, program in enumerate(self.programs)}


def compile_rules(programs: Iterable[Program], version: str, oncotree: OncoTree) -> CompiledRules:
    programs = tuple(programs)
    compiled = {p.id: CompiledProgram(p, version) for p in programs}
    open_programs = [p for p in programs if p.status != "closed"]
    gates = build_gates(open_programs, version)
    own: dict[str, RulesetDefinition] = {}
    for p in programs:
        rulesets = program_rulesets(p)
        own[compiled[p.id].ruleset] = rulesets["full"]
        if "screen" in rulesets:
            own[compiled[p.id].screen] = rulesets["screen"]
    engine = RuleEngine(own | gates.rulesets)
    return CompiledRules(programs, engine, version, oncotree, gates, compiled)


def program_rulesets(program: Program) -> dict[Literal["full", "screen"], RulesetDefinition]:
    """What one program puts in the engine: its full ruleset, and its screen ruleset unless it
    is closed (gate rulesets span programs and fit themselves to the engine's limits)."""
    rulesets: dict[Literal["full", "screen"], RulesetDefinition] = {"full": _ruleset(program)}
    if program.status != "closed":
        rulesets["screen"] = screen_ruleset(program)
    return rulesets


def _ruleset(program: Program) -> RulesetDefinition:
    rules: RulesetDefinition = {}
    for section, criterion in program.sections:
        conditions = compile_check(criterion)
        for status in DECIDED:
            rules[verdict_rule_name(section, criterion.id, status)] = conditions.of(status)
        rules |= leaf_rules(section, criterion)  # leaf verdicts, to explain an unknown
    return rules


def evaluate(case: Case, rules: CompiledRules, now: datetime) -> list[MatchDecided]:
    """One decision per program that is not closed, in catalogue order, each from its full
    ruleset: the reference the gated paths are tested against."""
    open_programs = [rules.compiled[p.id] for p in rules.programs if p.status != "closed"]
    return _decide_all(case, open_programs, case_fact(case, rules.oncotree), rules, now)


def evaluate_candidates(case: Case, rules: CompiledRules, now: datetime) -> list[MatchDecided]:
    """Decisions from the full rulesets of the programs that pass the gate, in catalogue order.

    Every program left out would have been `ineligible`; those that remain may still be.
    """
    fact = case_fact(case, rules.oncotree)
    return _decide_all(case, _candidates(fact, rules), fact, rules, now)


def _decide_all(
    case: Case,
    programs: list[CompiledProgram],
    fact: dict[str, object],
    rules: CompiledRules,
    now: datetime,
) -> list[MatchDecided]:
    fired = rules.engine.fired_in([p.ruleset for p in programs], fact)
    observe_case = Observer(case)
    return [_decision(observe_case, p, p.plan(fired[p.ruleset]), rules, now) for p in programs]


def decide_program(
    case: Case, program: Program, rules: CompiledRules, now: datetime
) -> MatchDecided:
    """The decision for one program (closed or not): for program tests and explanations."""
    [decision] = decide_programs(case, [program.id], rules, now)
    return decision


def decide_programs(
    case: Case, program_ids: Iterable[str], rules: CompiledRules, now: datetime
) -> list[MatchDecided]:
    """Decisions of any outcome for the given programs, each from its full ruleset (a
    re-match after a rule edit, or naming the criterion a formerly open case now fails)."""
    compiled = [rules.compiled[program_id] for program_id in program_ids]
    if not compiled:
        return []
    return _decide_all(case, compiled, case_fact(case, rules.oncotree), rules, now)


def _candidates(fact: dict[str, object], rules: CompiledRules) -> list[CompiledProgram]:
    """Open programs whose gate fired (or that have none), in catalogue order."""
    return _passed(_gated(fact, rules), rules)


def _gated(fact: dict[str, object], rules: CompiledRules) -> dict[str, list[str] | EngineError]:
    return rules.engine.fired_or_refused(rules.gates.rulesets, rules.gates.fact(fact))


def _passed(
    gated: dict[str, list[str] | EngineError], rules: CompiledRules
) -> list[CompiledProgram]:
    """A gate ruleset that cannot evaluate the fact lets all its programs through: the gate
    fact carries probes besides the case, and can exceed what the engine reads (error 302,
    too many properties) for a case it still evaluates in full."""
    passed = set(rules.gates.always)
    for name, fired in gated.items():
        passed.update(rules.gates.rulesets[name] if isinstance(fired, EngineError) else fired)
    ordered = sorted(passed, key=rules.position.__getitem__)
    return [rules.compiled[program_id] for program_id in ordered]


def publishable_decisions(case: Case, rules: CompiledRules, now: datetime) -> list[MatchDecided]:
    """What the service publishes: decisions that are not `ineligible`, in catalogue order.

    Gate candidates go through their screen rulesets, which also catch the candidates that
    fail; a decision (reasons, observed values) is built only for what will be published.
    """
    fact = case_fact(case, rules.oncotree)
    candidates = _candidates(fact, rules)
    fired = rules.engine.fired_in([p.screen for p in candidates], fact)
    observe_case = Observer(case)
    decisions = []
    for compiled in candidates:
        plan = compiled.plan(fired[compiled.screen])
        if plan.outcome is not Outcome.INELIGIBLE:
            decisions.append(_decision(observe_case, compiled, plan, rules, now))
    return decisions


def decide(
    case: Case, program: Program, fired: list[str], rules: CompiledRules, now: datetime
) -> MatchDecided:
    """The decision for `program` given the rules its full ruleset fired."""
    compiled = rules.compiled[program.id]
    return _decision(Observer(case), compiled, compiled.plan(fired), rules, now)


def _decision(
    observe_case: Observer,
    compiled: CompiledProgram,
    plan: Plan,
    rules: CompiledRules,
    now: datetime,
) -> MatchDecided:
    program = compiled.program
    results = [
        _result(
            criterion.id,
            section,
            status,
            criterion.text,
            observe_case(criterion, key),
            defining=defining,
        )
        for (section, criterion), status, key, defining in zip(
            program.sections,
            plan.statuses,
            compiled.observation_keys,
            compiled.defining,
            strict=True,
        )
    ]
    return MatchDecided.model_construct(
        case_id=observe_case.case_id,
        program_id=program.id,
        program_title=program.title,
        routes=list(program.notify),
        program_area=program.area,
        site_countries=program.site_countries,
        outcome=plan.outcome,
        tier=plan.tier,
        criteria=results,
        facts_to_collect=list(plan.facts_to_collect),
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
    *,
    defining: bool,
) -> CriterionResult:
    """Results are immutable and repeat across cases (unknown criteria observe nothing), so
    they are shared; decisions are built by the hundred per case. Every value comes from
    validated models, so they are constructed without validating again."""
    return CriterionResult.model_construct(
        criterion_id=criterion_id,
        section=section,
        status=status,
        text=text,
        observed=bounded_observed(observed),
        defining=True if defining else None,
    )
