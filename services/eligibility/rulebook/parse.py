"""Rule-file text -> a validated Program, or errors saying file:line:column and what to do."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from eligibility.domain.criteria import DiagnosisCheck, Program, iter_checks
from eligibility.domain.oncotree import OncoTree
from eligibility.rulebook.located_yaml import Located, Location, YamlSyntaxError, load_located

__all__ = ["ParsedFile", "RuleError", "RuleSet", "parse_program", "parse_rule_files"]


@dataclass(frozen=True)
class RuleError:
    file: str
    line: int
    column: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


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


def parse_program(file: str, text: str, oncotree: OncoTree) -> ParsedFile:
    def error(where: Location, code: str, message: str) -> RuleError:
        return RuleError(file, where.line, where.column, code, message)

    try:
        located = load_located(text)
    except YamlSyntaxError as failure:
        return ParsedFile(file, None, (error(failure.location, "yaml_syntax", str(failure)),))
    if not isinstance(located.data, dict):
        return ParsedFile(
            file, None, (error(Location(1, 1), "not_a_mapping", "a program file is a mapping"),)
        )
    try:
        program = Program.model_validate(located.data)
    except ValidationError as failure:
        return ParsedFile(file, None, tuple(_schema_errors(file, failure, located)))
    return ParsedFile(file, program, tuple(_semantic_errors(file, program, located, oncotree)))


def _schema_errors(file: str, failure: ValidationError, located: Located) -> Iterable[RuleError]:
    for item in failure.errors():
        where = located.locate(tuple(item["loc"]))
        field = ".".join(map(str, item["loc"])) or "file"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = f"unknown field '{item['loc'][-1]}': check its spelling and indentation"
        elif item["type"] == "missing":
            message = f"missing required field '{field}'"
        else:
            message = f"{field}: {message}"
        yield RuleError(file, where.line, where.column, item["type"], message)


def _semantic_errors(
    file: str, program: Program, located: Located, oncotree: OncoTree
) -> Iterable[RuleError]:
    for section in ("inclusion", "exclusion"):
        for index, criterion in enumerate(getattr(program, section)):
            for path, check in iter_checks(criterion, (section, index)):
                if not isinstance(check, DiagnosisCheck):
                    continue
                for key in ("oncotree", "exclude"):
                    for position, code in enumerate(getattr(check, key)):
                        if code in oncotree:
                            continue
                        where = located.locate((*path, key, position))
                        hint = oncotree.suggest(code)
                        advice = f" (did you mean {hint}?)" if hint else " (see oncotree.mskcc.org)"
                        yield RuleError(
                            file,
                            where.line,
                            where.column,
                            "unknown_oncotree_code",
                            f"unknown OncoTree code '{code}'{advice}",
                        )


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
    return RuleSet(programs, content_version(contents)), []


def content_version(files: list[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256()
    for name, data in files:
        digest.update(Path(name).name.encode() + b"\0" + data + b"\0")
    return "sha256:" + digest.hexdigest()[:16]
