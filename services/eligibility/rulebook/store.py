"""The live rule set: load a rules directory, compile it, and swap it in whole.

Readers take the current rule set with `use()`; a swap never changes a rule set a reader
holds, and the engine of a replaced rule set is closed once its last reader is done.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rarematch.common.rule_errors import RuleError
from rarematch.eligibility.domain.engine import EngineError
from rarematch.eligibility.domain.evaluate import CompiledRules, compile_rules
from rarematch.eligibility.domain.oncotree import OncoTree
from rarematch.eligibility.rulebook.validate import RulesInvalid, Validation, validate

__all__ = ["RuleStore", "RulesInvalid", "compile_validated", "load_rules"]


def load_rules(rules_dir: Path, oncotree: OncoTree) -> CompiledRules:
    """Validate and compile a rules directory; raise RulesInvalid listing every error."""
    return compile_validated(validate(rules_dir, oncotree), oncotree)


def compile_validated(validation: Validation, oncotree: OncoTree) -> CompiledRules:
    """Compile what `validate` accepted. An engine refusal the checks did not foresee is still
    an error at the program's file, never an exception of the engine's own."""
    if validation.rule_set is None:
        raise RulesInvalid(validation.errors)
    rule_set = validation.rule_set
    try:
        return compile_rules(rule_set.programs, rule_set.version, oncotree)
    except EngineError as error:
        file = next((f for pid, f in rule_set.files.items() if f":{pid}" in str(error)), "rules")
        raise RulesInvalid(
            [RuleError(file, 1, 1, "engine_refused", f"{error}: simplify the criteria")]
        ) from error


class RuleStore:
    """One complete, compiled rule set at a time, swapped atomically."""

    def __init__(self, initial: CompiledRules) -> None:
        self._current = initial
        self._readers: dict[int, int] = {}
        self._retired: dict[int, CompiledRules] = {}
        self._lock = threading.Lock()

    def current(self) -> CompiledRules:
        """The live rule set, for a quick look (its version); evaluate inside `use()`."""
        return self._current

    @contextmanager
    def use(self) -> Iterator[CompiledRules]:
        with self._lock:
            rules = self._current
            self._readers[id(rules)] = self._readers.get(id(rules), 0) + 1
        try:
            yield rules
        finally:
            with self._lock:
                self._readers[id(rules)] -= 1
                done = self._readers[id(rules)] == 0 and id(rules) in self._retired
                if done:
                    del self._readers[id(rules)], self._retired[id(rules)]
            if done:
                rules.engine.close()

    def swap(self, rules: CompiledRules) -> None:
        """Make `rules` live; the old set's engine closes now, or when its last reader ends."""
        with self._lock:
            previous, self._current = self._current, rules
            in_use = self._readers.get(id(previous), 0) > 0
            if in_use:
                self._retired[id(previous)] = previous
        if not in_use:
            previous.engine.close()
