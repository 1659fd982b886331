"""The one validator of a rules directory: what `rules lint`, `rules test`, service start and
every hot reload run, so they accept the same files and say the same words.

Program files (schema, OncoTree codes, impossible criteria, engine limits), `routing.yaml`, and
the routes programs name. Reading files is the callers' affair; `validate_sources` is pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rarematch.common.rule_errors import RuleError
from rarematch.eligibility.domain.oncotree import OncoTree
from rarematch.eligibility.rulebook.files import (
    PROGRAMS_SUBDIR,
    collect_program_files,
    read_program_files,
)
from rarematch.eligibility.rulebook.parse import RuleSet, parse_rule_files
from rarematch.notifier.adapters.routing_file import ROUTING_FILE, parse_routing
from rarematch.notifier.domain.routing import Routing

__all__ = ["RulesInvalid", "Validation", "validate", "validate_paths", "validate_sources"]

Source = tuple[str, bytes]
"""(path as shown to authors, content)."""


class RulesInvalid(ValueError):
    """The rules directory has errors: every one of them, each with file:line:col."""

    def __init__(self, errors: Sequence[RuleError]) -> None:
        super().__init__("\n".join(map(str, errors)))
        self.errors = list(errors)


@dataclass(frozen=True)
class Validation:
    """A rule set only when there is no error anywhere; every error otherwise."""

    rule_set: RuleSet | None
    routing: Routing | None
    errors: tuple[RuleError, ...]
    sources: dict[str, bytes] = field(default_factory=dict)
    """Every file read, by the name errors give, to quote the offending line."""


def validate_sources(
    programs: Sequence[Source], routing: Source | None, oncotree: OncoTree
) -> Validation:
    rule_set, errors = parse_rule_files(programs, oncotree)
    sources = dict(programs)
    parsed_routing = None
    if routing is not None:
        name, text = routing
        sources[name] = text
        parsed_routing, routing_errors = parse_routing(name, text.decode("utf-8", "replace"))
        errors += routing_errors
        if parsed_routing is not None and rule_set is not None:
            errors += _unknown_routes(rule_set, parsed_routing, sources)
    if errors:
        return Validation(None, parsed_routing, tuple(errors), sources)
    return Validation(rule_set, parsed_routing, (), sources)


def validate(rules_dir: Path, oncotree: OncoTree) -> Validation:
    """A rules directory as the services read it: `programs/*.yaml` and `routing.yaml`."""
    try:
        programs = read_program_files(rules_dir)
        routing = _read_routing(rules_dir)
    except OSError as error:
        return _unreadable(rules_dir / PROGRAMS_SUBDIR, error)
    return validate_sources(programs, routing, oncotree)


def validate_paths(paths: Sequence[Path], oncotree: OncoTree) -> Validation:
    """Files or folders named on a command line; the `routing.yaml` of the first rules
    directory among them checks the routes of every program."""
    try:
        programs = collect_program_files(list(paths))
        routing = next(filter(None, map(_read_routing, paths)), None)
    except OSError as error:
        return _unreadable(Path(error.filename or paths[0]), error)
    return validate_sources(programs, routing, oncotree)


def _read_routing(path: Path) -> Source | None:
    file = path / ROUTING_FILE
    return (str(file), file.read_bytes()) if file.is_file() else None


def _unreadable(where: Path, error: OSError) -> Validation:
    message = str(error) if error.strerror is None else f"cannot read it ({error.strerror})"
    return Validation(None, None, (RuleError(str(where), 1, 1, "unreadable", message),))


def _unknown_routes(
    rule_set: RuleSet, routing: Routing, sources: dict[str, bytes]
) -> list[RuleError]:
    """A program naming a route the routing file lacks would silently fall back: say so."""
    errors = []
    for program in rule_set.programs:
        missing = [name for name in program.notify if name not in routing.routes]
        if missing:
            file = rule_set.files[program.id]
            errors.append(
                RuleError(
                    file,
                    _line_of(sources.get(file, b""), "notify:"),
                    1,
                    "unknown_route",
                    f"route(s) {', '.join(missing)} not defined in {ROUTING_FILE}; "
                    f"defined: {', '.join(sorted(routing.routes))}",
                )
            )
    return errors


def _line_of(source: bytes, needle: str) -> int:
    lines = source.decode("utf-8", "replace").splitlines()
    return next((n for n, line in enumerate(lines, 1) if line.startswith(needle)), 1)
