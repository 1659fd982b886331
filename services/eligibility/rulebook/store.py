"""The live rule set: load a rules directory, compile it, and swap it in whole."""

from __future__ import annotations

import threading
from pathlib import Path

from eligibility.domain.evaluate import CompiledRules, compile_rules
from eligibility.domain.oncotree import OncoTree
from eligibility.rulebook.files import read_program_files
from eligibility.rulebook.parse import RuleError, parse_rule_files

__all__ = ["RuleStore", "RulesInvalid", "load_rules"]


class RulesInvalid(ValueError):
    def __init__(self, errors: list[RuleError]) -> None:
        super().__init__("\n".join(map(str, errors)))
        self.errors = errors


def load_rules(rules_dir: Path, oncotree: OncoTree) -> CompiledRules:
    """Parse, validate and compile every program file; raise RulesInvalid listing all errors."""
    rule_set, errors = parse_rule_files(read_program_files(rules_dir), oncotree)
    if rule_set is None:
        raise RulesInvalid(errors)
    return compile_rules(rule_set.programs, rule_set.version, oncotree)


class RuleStore:
    """Readers always get one complete, compiled rule set; `swap` replaces it atomically."""

    def __init__(self, initial: CompiledRules) -> None:
        self._current = initial
        self._lock = threading.Lock()

    def current(self) -> CompiledRules:
        return self._current

    def swap(self, rules: CompiledRules) -> CompiledRules:
        with self._lock:
            previous, self._current = self._current, rules
        return previous
