"""The durable-rules engine behind one small interface; the only module that imports it.

A fact is asserted in a fresh session, so every matching rule fires once; the names of the
rules that fired are the engine's verdict. Actions run synchronously in this thread: we drive
the C engine's action loop ourselves instead of `durable.engine.Host`, whose background
dispatcher threads and state updates would re-match rules against session state.

durable-rules quirks are handled here, once:
- rules also match the session's own state object, so every condition is guarded by a marker
  field that only our facts carry;
- a session is created even when no rule matches, and `delete_state` on such a session frees
  uninitialised memory; a sentinel rule that always fires keeps every session well-formed;
- a ruleset holds at most 1,024 live sessions, so each one is deleted after its evaluation,
  whatever interrupts it;
- a fact of more than about 250 properties is refused (error 302), so a fact is cut down to
  the properties some rule reads;
- numbers in exponent notation are refused (error 204), so they are written out;
- a rule holds at most 15 `$and` / `$or` nodes (error 113), checked with a clear message.
"""

from __future__ import annotations

import decimal
import itertools
import json
import math
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import durable_rules_engine as _engine

from rarematch.eligibility.domain.conditions import Condition, all_of, operator_count

__all__ = [
    "MAX_OPERATORS_PER_CONDITION",
    "EngineError",
    "RuleEngine",
    "RulesetDefinition",
    "refusals",
]

RulesetDefinition = dict[str, Condition]
"""Rule name -> the condition on the fact that makes it fire."""

_NOTHING_MATCHED = 1
MAX_RULES_PER_RULESET = 96
"""durable-rules refuses rulesets of ~128+ rules (error 107), fails asserts from ~150
(error 303), and has crashed the process with large rulesets; refuse well before that."""
_MAX_OPERATORS_PER_RULE = 15
"""`$and` / `$or` nodes per rule: durable-rules keeps two entries per node in a sequence of
at most 31 per rule (MAX_SEQUENCE_EXPRESSIONS) and refuses more with error 113."""
MAX_OPERATORS_PER_CONDITION = _MAX_OPERATORS_PER_RULE - 1
"""What a condition may have whatever its shape: the marker guard may take one more node
(none when the condition is itself an `$and`, which the guard joins)."""
_MARKER = {"$rarematch_fact": 1}
_SENTINEL = "$asserted"


class EngineError(RuntimeError):
    """The engine refused a ruleset (unknown operator, malformed condition) or a fact."""


class RuleEngine:
    """A set of immutable, named rulesets; build a new engine to change any of them."""

    def __init__(self, rulesets: Mapping[str, RulesetDefinition]) -> None:
        self._handles: dict[str, int] = {}
        self._sessions = itertools.count()
        self._lock = threading.Lock()
        self._read: _PathTree = {}
        """Every property path some rule reads: the rest of a fact is left out."""
        try:
            for name, rules in rulesets.items():
                self._handles[name] = _engine.create_ruleset(name, _json(_as_durable(rules)))
                for condition in rules.values():
                    _add_paths(self._read, condition)
        except _engine.error as error:
            self.close()
            raise EngineError(f"durable-rules refused ruleset '{name}': {error}") from error

    def fired(self, ruleset: str, fact: dict[str, Any]) -> list[str]:
        """Assert `fact` in a fresh session of `ruleset`; return the names of the rules it fired."""
        return self.fired_in([ruleset], fact)[ruleset]

    def fired_in(self, rulesets: Iterable[str], fact: dict[str, Any]) -> dict[str, list[str]]:
        """`fired` for several rulesets, with the fact serialised once."""
        fired: dict[str, list[str]] = {}
        for name, result in self.fired_or_refused(rulesets, fact).items():
            if isinstance(result, EngineError):
                raise result
            fired[name] = result
        return fired

    def fired_or_refused(
        self, rulesets: Iterable[str], fact: dict[str, Any]
    ) -> dict[str, list[str] | EngineError]:
        """`fired_in`, but a ruleset that cannot evaluate the fact gives its error, and the
        others are still evaluated."""
        with self._lock:
            session = str(next(self._sessions))
            read = _prune(fact, self._read)
            payload = _json({**read, **_MARKER, "sid": session, "id": "fact"})
            results: dict[str, list[str] | EngineError] = {}
            for name in rulesets:
                try:
                    results[name] = self._fire(name, payload, session)
                except EngineError as error:
                    results[name] = error
            return results

    def _fire(self, ruleset: str, payload: str, session: str) -> list[str]:
        handle = self._handles[ruleset]
        evaluated = False
        try:
            fired = _drain_actions(handle, _engine.assert_fact(handle, payload))
            evaluated = True
        except _engine.error as error:
            raise EngineError(f"durable-rules failed on '{ruleset}': {error}") from error
        finally:  # every session is deleted: a ruleset holds at most 1,024
            try:
                _engine.delete_state(handle, session)
            except _engine.error:
                if evaluated:  # else the session may not exist: keep the first error
                    raise
        if not fired.pop(_SENTINEL, False):
            raise EngineError(f"durable-rules did not evaluate the fact on '{ruleset}'")
        return list(fired)

    def __len__(self) -> int:
        """How many rulesets the engine holds."""
        return len(self._handles)

    def close(self) -> None:
        for handle in self._handles.values():
            _engine.delete_ruleset(handle)
        self._handles.clear()

    def __enter__(self) -> RuleEngine:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.:@/$-]+$")


def refusals(rules: RulesetDefinition) -> list[tuple[str | None, str]]:
    """Why durable-rules would refuse `rules`: (the rule, or None for the whole set, reason).

    The limits are checked here, before the C engine sees them, so that lint and every reload
    report them with the criterion's place instead of an engine error code.
    """
    found: list[tuple[str | None, str]] = []
    if len(rules) > MAX_RULES_PER_RULESET:
        found.append(
            (
                None,
                f"{len(rules)} rules in one ruleset; at most {MAX_RULES_PER_RULESET}: "
                "split the program or simplify its compositions",
            )
        )
    if _SENTINEL in rules:
        found.append((_SENTINEL, f"rule name {_SENTINEL} is reserved"))
    for name, condition in rules.items():
        if not _SAFE_NAME.match(name):
            found.append((name, f"rule name {name!r} is not a plain identifier"))
        elif operator_count(all_of(_MARKER, condition)) > _MAX_OPERATORS_PER_RULE:
            found.append(
                (
                    name,
                    "nests too many all/any/not-of-several compositions and ranges "
                    f"({operator_count(condition)}; the engine takes "
                    f"{MAX_OPERATORS_PER_CONDITION} for certain, sometimes one more): "
                    "split the criterion into several",
                )
            )
    return found


def _as_durable(rules: RulesetDefinition) -> dict[str, Any]:
    refused = refusals(rules)
    if refused:
        rule, reason = refused[0]
        raise EngineError(f"rule {rule} {reason}" if rule else reason)
    guarded = {name: all_of(_MARKER, condition) for name, condition in rules.items()}
    return {
        name: {"all": [{"m": condition}]}
        for name, condition in {**guarded, _SENTINEL: _MARKER}.items()
    }


_PathTree = dict[str, "_PathTree | None"]
"""Property paths as a tree of their dotted parts; None marks a path read as a whole."""


def _add_paths(tree: _PathTree, condition: Condition) -> None:
    for key, operand in condition.items():
        if key in ("$and", "$or"):
            for part in operand:
                _add_paths(tree, part)
        elif key.startswith("$"):
            for path in operand:
                _add_path(tree, path)
        else:
            _add_path(tree, key)


def _add_path(tree: _PathTree, path: str) -> None:
    *parents, last = path.split(".")
    node = tree
    for part in parents:
        child = node.setdefault(part, {})
        if child is None:  # already read as a whole
            return
        node = child
    node[last] = None


def _prune(fact: dict[str, Any], tree: _PathTree) -> dict[str, Any]:
    """`fact` without the properties no rule reads. durable-rules parses every property of a
    fact and refuses facts of more than about 250 (error 302); a test on a path can only see
    that path, so what no rule names cannot change a verdict."""
    kept: dict[str, Any] = {}
    for key, value in fact.items():
        if key not in tree:
            continue
        below = tree[key]
        if below is None:
            kept[key] = value
        elif isinstance(value, dict) and (inner := _prune(value, below)):
            kept[key] = inner
    return kept


_EXPONENT = re.compile(r"\d[eE][-+]?\d")


def _json(value: dict[str, Any]) -> str:
    """JSON that durable-rules can read: it refuses numbers in exponent notation (1e-05,
    1e+16; error 204), which `json.dumps` writes for very small and very large floats."""
    text = json.dumps(value)
    if _EXPONENT.search(text) is None:  # the usual case; a match may also be inside a string
        return text
    return _positional_json(value)


def _positional_json(value: Any) -> str:
    if isinstance(value, dict):
        items = (f"{json.dumps(key)}:{_positional_json(item)}" for key, item in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_positional_json(item) for item in value) + "]"
    if isinstance(value, float) and math.isfinite(value):
        digits = format(decimal.Decimal(repr(value)), "f")
        return digits if "." in digits else digits + ".0"  # read as a double, not an integer
    return json.dumps(value)


def _drain_actions(handle: int, asserted: tuple[int, int]) -> dict[str, bool]:
    """The rules that fired, each once (a rule fires once per `$or` branch that holds).

    Each action message is `{"<rule>": {...a copy of the fact...}}`. Rule names are checked
    at compile time to need no JSON escaping, so the name ends at the next quote: parsing the
    whole message per action would cost more than the rest of the evaluation.
    """
    status, state = asserted[0], asserted[1]
    fired: dict[str, bool] = {}
    if status == _NOTHING_MATCHED:
        return fired
    action = _engine.start_action_for_state(handle, state)
    message = action[1] if action else None
    while message:
        fired[message[2 : message.index('"', 2)]] = True
        message = _engine.complete_and_start_action(handle, state)
    return fired
