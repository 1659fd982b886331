"""Criteria the schema accepts but the rules engine would refuse, found before compiling.

The service and `rules lint` both run this, so an author sees the refusal at the criterion's
file:line:col instead of a reload that fails with an engine error code.
"""

from __future__ import annotations

from collections.abc import Iterator

from rarematch.eligibility.domain.criteria import Program
from rarematch.eligibility.domain.engine import refusals
from rarematch.eligibility.domain.evaluate import program_rulesets
from rarematch.eligibility.domain.screen import FAIL_PREFIX
from rarematch.eligibility.rulebook.semantics import Finding, YamlPath

__all__ = ["engine_refusals"]


def engine_refusals(program: Program) -> Iterator[Finding]:
    """The first refusal of each criterion, and of the program as a whole.

    A criterion too large for one rule also makes the screen's rule that joins failing
    criteria too large; that refusal is the criterion's, so it is not reported again.
    """
    by_place: dict[YamlPath, str] = {}
    joined: list[str] = []
    for rules in program_rulesets(program).values():
        for rule, reason in refusals(rules):
            if rule is not None and rule.startswith(FAIL_PREFIX):
                joined.append(reason)
            else:
                by_place.setdefault(_criterion_path(program, rule), reason)
    if joined and not any(by_place):
        by_place.setdefault((), joined[0])
    for path, reason in by_place.items():
        subject = (
            f"criterion '{_criterion_id(program, path)}' is too complex"
            if path
            else "program is too large"
        )
        yield path, "engine_refused", f"{subject} for the rules engine: {reason}"


def _criterion_path(program: Program, rule: str | None) -> YamlPath:
    """`inclusion/<id>[@leaf]/<status>` -> ('inclusion', index); () for anything else."""
    if rule is None or rule.count("/") < 2:
        return ()
    section, rest = rule.split("/", 1)
    criterion_id = rest.rsplit("/", 1)[0].split("@", 1)[0]
    for index, criterion in enumerate(getattr(program, section, None) or []):
        if criterion.id == criterion_id:
            return (section, index)
    return ()


def _criterion_id(program: Program, path: YamlPath) -> str:
    section, index = path[0], path[1]
    return str(getattr(program, str(section))[int(index)].id)
