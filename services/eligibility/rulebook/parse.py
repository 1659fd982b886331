"""Rule-file text -> a validated Program, or errors saying file:line:column and what to do."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rarematch.common.located_yaml import Location, YamlSyntaxError, load_located
from rarematch.common.rule_errors import RuleError, schema_errors
from rarematch.eligibility.domain.criteria import Program
from rarematch.eligibility.domain.oncotree import OncoTree
from rarematch.eligibility.rulebook.engine_limits import engine_refusals
from rarematch.eligibility.rulebook.semantics import field_hint, never_met, unknown_oncotree_codes

__all__ = ["ParsedFile", "RuleSet", "parse_program", "parse_rule_files"]


@dataclass(frozen=True)
class ParsedFile:
    file: str
    program: Program | None
    errors: tuple[RuleError, ...]


@dataclass(frozen=True)
class RuleSet:
    """Every program of a rules directory, and the content hash that names this version."""

    programs: tuple[Program, ...]
    version: str
    files: dict[str, str]
    """Program id -> the file it came from."""


def parse_program(file: str, text: str, oncotree: OncoTree) -> ParsedFile:
    def error(where: Location, code: str, message: str) -> RuleError:
        return RuleError(file, where.line, where.column, code, message)

    try:
        located = load_located(text)
    except YamlSyntaxError as failure:
        return ParsedFile(file, None, (error(failure.location, failure.code, str(failure)),))
    if not isinstance(located.data, dict):
        return ParsedFile(
            file, None, (error(Location(1, 1), "not_a_mapping", "a program file is a mapping"),)
        )
    codes = [
        error(located.locate(path), code, message)
        for path, code, message in unknown_oncotree_codes(located.data, oncotree)
    ]
    try:
        program = Program.model_validate(located.data)
    except ValidationError as failure:
        schema = list(schema_errors(file, failure, located, field_hint, _repeated_id))
        return ParsedFile(file, None, tuple(sorted([*codes, *schema], key=_position)))
    impossible = [
        error(located.locate(path), code, message)
        for path, code, message in (*never_met(program, oncotree), *engine_refusals(program))
    ]
    errors = tuple(sorted([*codes, *impossible], key=_position))
    return ParsedFile(file, None if errors else program, errors)


def _position(error: RuleError) -> tuple[int, int]:
    return error.line, error.column


def _repeated_id(data: dict[str, Any]) -> tuple[str | int, ...] | None:
    """Where the first repeated criterion id stands, e.g. ('exclusion', 2, 'id')."""
    seen: set[object] = set()
    for section in ("inclusion", "exclusion"):
        for index, criterion in enumerate(data.get(section) or []):
            criterion_id = criterion.get("id") if isinstance(criterion, dict) else None
            if criterion_id in seen:
                return (section, index, "id")
            seen.add(criterion_id)
    return None


def parse_rule_files(
    files: Iterable[tuple[str, bytes]], oncotree: OncoTree
) -> tuple[RuleSet | None, list[RuleError]]:
    """Parse every program file; a rule set only when there is no error in any of them."""
    contents = sorted(files)
    parsed = [
        parse_program(name, data.decode("utf-8", "replace"), oncotree) for name, data in contents
    ]
    errors = [e for p in parsed for e in p.errors]
    seen: dict[str, str] = {}
    for p in parsed:
        if p.program is None:
            continue
        if p.program.id in seen:
            errors.append(
                RuleError(
                    p.file,
                    1,
                    1,
                    "duplicate_program_id",
                    f"program id {p.program.id} is already defined in {seen[p.program.id]}",
                )
            )
        seen[p.program.id] = p.file
    if errors:
        return None, errors
    programs = tuple(p.program for p in parsed if p.program is not None)
    origins = {p.program.id: p.file for p in parsed if p.program is not None}
    return RuleSet(programs, content_version(contents), origins), []


def content_version(files: list[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256()
    for name, data in files:
        digest.update(Path(name).name.encode() + b"\0" + data + b"\0")
    return "sha256:" + digest.hexdigest()[:16]
