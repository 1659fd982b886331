"""Run checks against cases through the real durable-rules engine, as `evaluate` does.

`RuleEngine` guards every rule with its fact marker and adds a sentinel rule, so the compiled
conditions go in exactly as `evaluate._ruleset` passes them.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rarematch.common.contracts import Case
from rarematch.eligibility.domain.checks import Conditions, compile_check
from rarematch.eligibility.domain.criteria import CheckNode
from rarematch.eligibility.domain.engine import RuleEngine, RulesetDefinition
from rarematch.eligibility.domain.facts import case_fact
from rarematch.eligibility.domain.oncotree import bundled_oncotree

REPO = Path(__file__).resolve().parents[2]


def run_isolated(code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter, so an engine crash fails one test, not the run."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )


def node(data: Mapping[str, Any]) -> CheckNode:
    """A check node from its YAML shape: `{"hla": {"allele": "A*02:01"}}`, `{"any": [...]}`."""
    return CheckNode.model_validate(data)


def ruleset(conditions: Conditions, *, with_unknown: bool = True) -> RulesetDefinition:
    rules: RulesetDefinition = {"met": conditions.met, "not_met": conditions.not_met}
    if with_unknown and conditions.unknown is not None:
        rules["unknown"] = conditions.unknown
    return rules


def fact(case: Case) -> dict[str, Any]:
    return case_fact(case, bundled_oncotree())


class Checks:
    """Several checks compiled into one engine, one ruleset each (`c0`, `c1`, ...)."""

    def __init__(self, engine: RuleEngine) -> None:
        self.engine = engine

    def fired(self, index: int, case_fact_: dict[str, Any]) -> list[str]:
        """Rule names fired for check `index`, duplicates kept."""
        return self.engine.fired(f"c{index}", case_fact_)

    def status(self, index: int, case_fact_: dict[str, Any]) -> str:
        """met / not_met / unknown, the way `evaluate` reads it (neither rule => unknown)."""
        decided = set(self.fired(index, case_fact_)) - {"unknown"}
        assert len(decided) <= 1, f"check {index}: both met and not met fired"
        return decided.pop() if decided else "unknown"


@contextmanager
def compiled(nodes: Sequence[CheckNode], *, with_unknown: bool = True) -> Iterator[Checks]:
    """A fresh engine holding `nodes`; with_unknown=False compiles only met and not met."""
    rulesets = {
        f"c{i}": ruleset(compile_check(n), with_unknown=with_unknown) for i, n in enumerate(nodes)
    }
    with RuleEngine(rulesets) as engine:
        yield Checks(engine)


def status_of(check: Mapping[str, Any], case: Case) -> str:
    """The tri-state verdict of one check (YAML shape) for one case."""
    with compiled([node(check)], with_unknown=False) as checks:
        return checks.status(0, fact(case))
