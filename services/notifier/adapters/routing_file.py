"""Reads `rules/routing.yaml` (safe YAML) into a validated Routing, errors as file:line:column."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from rarematch.common.located_yaml import YamlSyntaxError, load_located
from rarematch.common.rule_errors import RuleError, schema_errors
from rarematch.notifier.domain.routing import Routing

__all__ = [
    "ROUTING_FILE",
    "RoutingFileError",
    "load_routing",
    "parse_routing",
    "routing_env_names",
]

ROUTING_FILE = "routing.yaml"


class RoutingFileError(ValueError):
    def __init__(self, errors: list[RuleError]) -> None:
        super().__init__("\n".join(map(str, errors)))
        self.errors = errors


def parse_routing(file: str, text: str) -> tuple[Routing | None, list[RuleError]]:
    try:
        located = load_located(text)
    except YamlSyntaxError as failure:
        where = failure.location
        return None, [RuleError(file, where.line, where.column, failure.code, str(failure))]
    try:
        return Routing.model_validate(located.data), []
    except ValidationError as failure:
        return None, list(schema_errors(file, failure, located))


def load_routing(rules_dir: Path) -> Routing:
    path = rules_dir / ROUTING_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        message = f"cannot read it ({error.strerror}); coordinators' routes live there"
        raise RoutingFileError([RuleError(str(path), 1, 1, "unreadable", message)]) from error
    routing, errors = parse_routing(str(path), text)
    if routing is None:
        raise RoutingFileError(errors)
    return routing


def routing_env_names(rules_dir: Path) -> frozenset[str]:
    """The variables the routing file reads secrets from; none if it does not load (the
    service reports that itself, with file:line:col)."""
    try:
        return load_routing(rules_dir).env_names
    except RoutingFileError:
        return frozenset()
