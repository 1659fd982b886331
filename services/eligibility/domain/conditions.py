"""A tiny algebra over durable-rules JSON conditions, so check compilers read like logic."""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "Condition",
    "all_of",
    "any_of",
    "eq",
    "field_token",
    "gt",
    "gte",
    "has",
    "lacks",
    "lt",
    "lte",
    "neq",
    "operator_count",
]

Condition = dict[str, Any]
_UNSAFE = re.compile(r"[^A-Za-z0-9]")


def field_token(text: str) -> str:
    """A name safe inside a dotted engine path, one-to-one: `p.R213*` -> `p_2ER213_2A`.

    Every character but letters and digits becomes `_` and its hex code, so distinct inputs
    (p.R213* and p.R213=) never share a token.
    """
    return _UNSAFE.sub(lambda match: f"_{ord(match.group()):02X}", text)


def all_of(*conditions: Condition) -> Condition:
    """Conjunction; `{}` terms mean "no constraint" and drop out (all of nothing is `{}`).

    Nested conjunctions are merged: the engine bounds `$and` / `$or` nodes per rule."""
    flat = [part for c in conditions if c for part in c.get("$and", [c])]
    if not flat:
        return {}
    return flat[0] if len(flat) == 1 else {"$and": flat}


def any_of(*conditions: Condition) -> Condition:
    """Disjunction; `{}` terms drop out, nested disjunctions are merged. Any of nothing would
    be false: callers must not ask."""
    flat = [part for c in conditions if c for part in c.get("$or", [c])]
    if not flat:
        raise ValueError("any_of() of no conditions is always false; leave the term out")
    return flat[0] if len(flat) == 1 else {"$or": flat}


def has(path: str) -> Condition:
    return {"$ex": {path: 1}}


def lacks(path: str) -> Condition:
    return {"$nex": {path: 1}}


def eq(path: str, value: Any) -> Condition:
    return {path: value}


def neq(path: str, value: Any) -> Condition:
    return {"$neq": {path: value}}


def gte(path: str, value: float) -> Condition:
    return {"$gte": {path: value}}


def gt(path: str, value: float) -> Condition:
    return {"$gt": {path: value}}


def lte(path: str, value: float) -> Condition:
    return {"$lte": {path: value}}


def lt(path: str, value: float) -> Condition:
    return {"$lt": {path: value}}


def operator_count(condition: Condition) -> int:
    """How many `$and` / `$or` nodes `condition` has: durable-rules bounds that per rule."""
    nested = condition.get("$and", condition.get("$or")) if isinstance(condition, dict) else None
    if not isinstance(nested, list):
        return 0  # a plain test, or malformed: the engine itself says what is wrong
    return 1 + sum(operator_count(c) for c in nested)
