"""Errors in files that people edit: `file:line:column: message`, from YAML and pydantic."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from rarematch.common.located_yaml import Located

__all__ = ["RuleError", "field_path", "schema_errors"]


@dataclass(frozen=True)
class RuleError:
    file: str
    line: int
    column: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


def schema_errors(
    file: str,
    failure: ValidationError,
    located: Located,
    field_hint: Callable[[str], str | None] = lambda name: None,
    relocate: Callable[[Any], tuple[str | int, ...] | None] = lambda data: None,
) -> Iterable[RuleError]:
    """Pydantic errors as located rule errors; `relocate` places model-level errors."""
    for item in failure.errors():
        loc = tuple(item["loc"])
        if not loc:
            loc = relocate(located.data) or loc
        where = located.locate(loc)
        field = field_path(loc, located.data) or "file"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            hint = field_hint(str(loc[-1]))
            advice = f"did you mean '{hint}'?" if hint else "check its spelling and indentation"
            message = (
                f"unknown field '{loc[-1]}' in {field_path(loc[:-1], located.data)} ({advice})"
            )
        elif item["type"] == "missing":
            message = f"missing required field '{field}'"
        else:
            message = f"{field}: {message}"
        yield RuleError(file, where.line, where.column, item["type"], message)


def field_path(loc: tuple[str | int, ...], data: object) -> str:
    """`inclusion[hla].any[0].hla.allele`: criteria by id, other list items by index."""
    parts: list[str] = []
    node = data
    for step in loc:
        if isinstance(step, int) and isinstance(node, list) and step < len(node):
            item = node[step]
            label = item.get("id") if isinstance(item, dict) else None
            parts[-1:] = [f"{parts[-1] if parts else ''}[{label if label else step}]"]
            node = item
        else:
            parts.append(str(step))
            node = node.get(step) if isinstance(node, dict) else None
    return ".".join(parts) or "the file"
