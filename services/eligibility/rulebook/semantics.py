"""Checks beyond the schema: codes that do not exist, and criteria that can never be met."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from functools import cache
from typing import Any

from pydantic import BaseModel

from rarematch.eligibility.domain import criteria
from rarematch.eligibility.domain.criteria import (
    AgeCheck,
    Check,
    CheckNode,
    Composite,
    DiagnosisCheck,
    OrganFunctionCheck,
    PerformanceCheck,
    PriorLinesCheck,
    Program,
    TmbCheck,
    iter_checks,
)
from rarematch.eligibility.domain.oncotree import OncoTree

__all__ = ["Finding", "field_hint", "never_met", "unknown_oncotree_codes"]

YamlPath = tuple[str | int, ...]
Finding = tuple[YamlPath, str, str]
"""(where in the YAML, stable code, message)."""


def unknown_oncotree_codes(data: Any, oncotree: OncoTree, path: YamlPath = ()) -> Iterator[Finding]:
    """Walk the raw YAML, so unknown codes are reported even when the schema also fails."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "diagnosis" and isinstance(value, dict):
                yield from _diagnosis_codes(value, oncotree, (*path, key))
            else:
                yield from unknown_oncotree_codes(value, oncotree, (*path, key))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from unknown_oncotree_codes(item, oncotree, (*path, index))


def _diagnosis_codes(
    check: dict[str, Any], oncotree: OncoTree, path: YamlPath
) -> Iterator[Finding]:
    for key in ("oncotree", "exclude"):
        codes = check.get(key)
        for position, code in enumerate(codes if isinstance(codes, list) else []):
            if not isinstance(code, str) or code in oncotree:
                continue
            hint = oncotree.suggest(code)
            advice = f"did you mean {hint}?" if hint else "see oncotree.mskcc.org for codes"
            yield (
                (*path, key, position),
                "unknown_oncotree_code",
                f"unknown OncoTree code '{code}' ({advice})",
            )


def never_met(program: Program, oncotree: OncoTree) -> Iterator[Finding]:
    """Criteria whose check no case could ever meet: a lint error, not a silent exclusion."""
    for section in ("inclusion", "exclusion"):
        for index, criterion in enumerate(getattr(program, section)):
            where: YamlPath = (section, index)
            for path, check in iter_checks(criterion, where):
                if isinstance(check, DiagnosisCheck) and _all_codes_excluded(check, oncotree):
                    yield (
                        path,
                        "never_met",
                        f"criterion '{criterion.id}' can never be met: every code in `oncotree` "
                        "lies inside an `exclude` subtree",
                    )
            for path, message in _empty_conjunctions(criterion, where):
                yield path, "never_met", f"criterion '{criterion.id}' can never be met: {message}"


def _all_codes_excluded(check: DiagnosisCheck, oncotree: OncoTree) -> bool:
    excluded = set(check.exclude)
    return bool(excluded) and all(excluded & set(oncotree.lineage(c)) for c in check.oncotree)


def _empty_conjunctions(node: CheckNode, path: YamlPath) -> Iterator[tuple[YamlPath, str]]:
    inner = node.node
    if not isinstance(inner, Composite):
        return
    if inner.operator == "all":
        ranges: dict[str, tuple[float, float]] = {}
        for child in inner.children:
            leaf = child.node
            if isinstance(leaf, Composite) or (bounds := _bounds(leaf)) is None:
                continue
            quantity, low, high = bounds
            old_low, old_high = ranges.get(quantity, (float("-inf"), float("inf")))
            ranges[quantity] = (max(low, old_low), min(high, old_high))
            if ranges[quantity][0] > ranges[quantity][1]:
                yield (*path, "all"), f"the `all` bounds on {quantity} do not overlap"
                break
    step = ("not",) if inner.operator == "not" else (inner.operator,)
    for index, child in enumerate(inner.children):
        child_path = (*path, *step) if inner.operator == "not" else (*path, *step, index)
        yield from _empty_conjunctions(child, child_path)


def _bounds(check: Check) -> tuple[str, float, float] | None:
    def span(low: float | None, high: float | None) -> tuple[float, float]:
        return (float("-inf") if low is None else low, float("inf") if high is None else high)

    if isinstance(check, AgeCheck):
        return ("age", *span(check.lowest_month, check.highest_month))
    if isinstance(check, TmbCheck | PriorLinesCheck):
        return (type(check).__name__, *span(check.min, check.max))
    if isinstance(check, PerformanceCheck):
        return (f"{check.scale} performance", *span(check.min, check.max))
    if isinstance(check, OrganFunctionCheck):
        return (check.measure, *span(check.min, check.max))
    return None


def field_hint(name: str) -> str | None:
    """The known field closest to a misspelt one."""
    matches = difflib.get_close_matches(name, _known_fields(), n=1, cutoff=0.7)
    return matches[0] if matches else None


@cache
def _known_fields() -> tuple[str, ...]:
    models = [
        value
        for value in vars(criteria).values()
        if isinstance(value, type) and issubclass(value, BaseModel)
    ]
    names = {info.alias or name for model in models for name, info in model.model_fields.items()}
    return tuple(sorted(names))
