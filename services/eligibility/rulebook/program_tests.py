"""Run the example cases each program file carries, and find criteria no test exercises."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from rarematch.common.contracts import CriterionStatus, MatchDecided
from rarematch.common.contracts.case import Case
from rarematch.common.contracts.cloudevents import describe_validation_error, parse_body
from rarematch.eligibility.domain.criteria import Program, ProgramTest
from rarematch.eligibility.domain.evaluate import CompiledRules, decide_program

__all__ = ["ProgramReport", "TestResult", "run_program_tests"]

_DECISIVE = {
    "inclusion": {CriterionStatus.NOT_MET, CriterionStatus.UNKNOWN},
    "exclusion": {CriterionStatus.MET, CriterionStatus.UNKNOWN},
}


@dataclass(frozen=True)
class TestResult:
    note: str
    passed: bool
    problems: tuple[str, ...] = ()


@dataclass
class ProgramReport:
    program: Program
    results: list[TestResult] = field(default_factory=list)
    unexercised: list[str] = field(default_factory=list)
    """Criteria that no test shows failing (or unknown): nothing proves they can matter."""


def run_program_tests(rules: CompiledRules, folders: dict[str, Path]) -> list[ProgramReport]:
    """Every program's tests; `folders` maps program id -> its file's folder (for case_file)."""
    now = datetime.now(UTC)
    reports = []
    for program in rules.programs:
        report = ProgramReport(program)
        exercised: set[str] = set()
        for test in program.tests:
            try:
                case = _load_case(test, folders[program.id])
                decision = decide_program(case, program, rules, now)
            except (OSError, ValueError) as error:
                report.results.append(TestResult(test.note, False, (str(error),)))
                continue
            problems = _compare(test, decision)
            report.results.append(TestResult(test.note, not problems, tuple(problems)))
            exercised |= {
                f"{c.section}/{c.criterion_id}"
                for c in decision.criteria
                if c.status in _DECISIVE[c.section]
            }
        report.unexercised = [
            f"{section}/{c.id}"
            for section in ("inclusion", "exclusion")
            for c in getattr(program, section)
            if f"{section}/{c.id}" not in exercised
        ]
        reports.append(report)
    return reports


def _load_case(test: ProgramTest, folder: Path) -> Case:
    if test.case is not None:
        return test.inline_case()
    assert test.case_file is not None
    path = folder / test.case_file
    try:
        return parse_body(Case, path.read_bytes())
    except ValidationError as error:
        raise ValueError(f"{path}: {describe_validation_error(error)}") from error


def _compare(test: ProgramTest, decision: MatchDecided) -> list[str]:
    want = test.want
    problems = []
    if decision.outcome is not want.outcome:
        failing = [
            f"{c.criterion_id}={c.status.value}"
            for c in decision.criteria
            if c.status is not CriterionStatus.MET or c.section == "exclusion"
        ]
        problems.append(
            f"outcome: want {want.outcome.value}, got {decision.outcome.value}"
            + (f" ({', '.join(failing)})" if failing else "")
        )
    if want.tier is not None and want.tier is not decision.tier:
        got = decision.tier.value if decision.tier else "none"
        problems.append(f"tier: want {want.tier.value}, got {got}")
    if want.facts_to_collect is not None and want.facts_to_collect != decision.facts_to_collect:
        problems.append(
            f"facts_to_collect: want {want.facts_to_collect}, got {decision.facts_to_collect}"
        )
    statuses = {c.criterion_id: c.status for c in decision.criteria}
    for criterion_id, status in (want.criteria or {}).items():
        if criterion_id not in statuses:
            problems.append(f"criteria: no criterion '{criterion_id}' in {decision.program_id}")
        elif statuses[criterion_id] is not status:
            problems.append(
                f"criteria.{criterion_id}: want {status.value}, got {statuses[criterion_id].value}"
            )
    return problems
