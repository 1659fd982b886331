"""One-test negations for the gate, over a copy of the fact that carries probe fields.

durable-rules cannot negate a condition, and a test on a field the fact lacks never holds. So
"could still be met" (not "not met") has been written as "met or unknown": an `$or` per
criterion, and the gate's rule for a program (all of its criteria's terms) multiplies them
out. Over the *gate fact*, which adds for each compared field a probe that is the field's value
when the case reports it and a stand-in when it does not, the negation of a comparison is one
comparison again:

- not (x < 18), true when x is absent, is probe_high(x) >= 18, where probe_high(x) is x, or
  ABOVE_EVERY_BOUND when x is absent; not (x > 3) is probe_low(x) <= 3 likewise;
- not (x == v) is probe_equal(x) != v, where an absent x reads as ABSENT, a value no criterion
  compares against;
- not (all of ...) is any of the negations, not (any of ...) all of them, and exists / does
  not exist swap.

The gate uses such a negation where it has fewer alternatives than the plain form; the
property test in tests/unit/test_gate.py checks it never changes a decision, and
tests/unit/test_probes.py checks each rewrite against the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rarematch.eligibility.domain.conditions import (
    Condition,
    all_of,
    any_of,
    eq,
    field_token,
    lacks,
)

__all__ = ["ABOVE_EVERY_BOUND", "ABSENT", "Probes", "negate"]

ABOVE_EVERY_BOUND = 1e15
"""Stands in for an absent number; comparisons with bounds this large are not rewritten."""
ABSENT = "(absent)"
"""Stands in for an absent value compared for equality."""

_HIGH, _LOW, _EQUAL = "probe_high", "probe_low", "probe_equal"
_FLIPPED = {"$lt": "$gte", "$lte": "$gt", "$gt": "$lte", "$gte": "$lt"}


class _CannotNegate(Exception):
    """The condition uses something without a one-test negation; keep the plain form."""


@dataclass
class Probes:
    """The fields whose probes the gate's negations read, by probe token."""

    high: dict[str, str] = field(default_factory=dict)
    low: dict[str, str] = field(default_factory=dict)
    equal: dict[str, str] = field(default_factory=dict)

    def add(self, other: Probes) -> None:
        self.high |= other.high
        self.low |= other.low
        self.equal |= other.equal

    def gate_fact(self, fact: dict[str, Any]) -> dict[str, Any]:
        """`fact` with every probe the negations read."""
        if not (self.high or self.low or self.equal):
            return fact
        return fact | {
            _HIGH: {t: _value(fact, p, ABOVE_EVERY_BOUND) for t, p in self.high.items()},
            _LOW: {t: _value(fact, p, -ABOVE_EVERY_BOUND) for t, p in self.low.items()},
            _EQUAL: {t: _value(fact, p, ABSENT) for t, p in self.equal.items()},
        }

    def _negate(self, condition: Condition) -> Condition:
        if "$and" in condition:
            return any_of(*(self._negate(c) for c in condition["$and"]))
        if "$or" in condition:
            return all_of(*(self._negate(c) for c in condition["$or"]))
        [(operator, operand)] = condition.items()
        if operator in _FLIPPED:
            [(path, bound)] = operand.items()
            if not isinstance(bound, int | float) or abs(bound) >= ABOVE_EVERY_BOUND:
                raise _CannotNegate(operator)
            # an absent x must pass: stand in a value beyond the bound in the flipped direction
            probes, prefix = (self.high, _HIGH) if operator in ("$lt", "$lte") else (self.low, _LOW)
            return {_FLIPPED[operator]: {_probe(probes, prefix, path): bound}}
        if operator == "$ex":
            return {"$nex": operand}
        if operator == "$nex":
            return {"$ex": operand}
        if operator == "$neq":
            [(path, value)] = operand.items()
            return any_of(eq(path, value), lacks(path))
        if operator.startswith("$") or operand == ABSENT:
            raise _CannotNegate(operator)
        return {"$neq": {_probe(self.equal, _EQUAL, operator): operand}}


def negate(condition: Condition) -> tuple[Condition, Probes] | None:
    """A condition on the gate fact that holds exactly when `condition` does not hold on the
    case fact, with the probes it reads; None when some part has no one-test negation."""
    probes = Probes()
    try:
        return probes._negate(condition), probes
    except _CannotNegate:
        return None


def _probe(probes: dict[str, str], prefix: str, path: str) -> str:
    token = field_token(path)
    probes[token] = path
    return f"{prefix}.{token}"


def _value(fact: dict[str, Any], path: str, absent: object) -> object:
    value: object = fact
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return absent
        value = value[part]
    return value
