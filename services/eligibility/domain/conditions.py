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
]

Condition = dict[str, Any]
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def field_token(text: str) -> str:
    """A name safe inside a dotted engine path: `NY-ESO-1` -> `NY_ESO_1`, `p.G12C` -> `p_G12C`."""
    return _UNSAFE.sub("_", text)


def all_of(*conditions: Condition) -> Condition:
    flat = [c for c in conditions if c]
    return flat[0] if len(flat) == 1 else {"$and": flat}


def any_of(*conditions: Condition) -> Condition:
    flat = [c for c in conditions if c]
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
