"""Safe YAML loading that remembers where every value came from (line and column)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

__all__ = ["Located", "Location", "YamlSyntaxError", "load_located"]

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Location:
    line: int
    column: int


class YamlSyntaxError(ValueError):
    def __init__(self, message: str, location: Location) -> None:
        super().__init__(message)
        self.location = location


@dataclass
class Located:
    """Plain data (dicts, lists, scalars) plus the source location of every node path."""

    data: Any
    locations: dict[Path, Location] = field(default_factory=dict)

    def locate(self, path: Path) -> Location:
        """The location of `path`, or of its nearest ancestor that exists in the file."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.locations:
                return self.locations[path[:end]]
        return Location(1, 1)


def load_located(text: str) -> Located:
    """Parse with the safe loader only: tags that construct objects are rejected."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = Location(mark.line + 1, mark.column + 1) if mark else Location(1, 1)
        raise YamlSyntaxError(f"YAML syntax: {error.problem or error}", where) from error
    located = Located(None)
    if root is not None:
        constructor = yaml.SafeLoader("")
        try:
            located.data = _convert(root, (), located.locations, constructor)
        except yaml.constructor.ConstructorError as error:
            mark = error.problem_mark
            where = Location(mark.line + 1, mark.column + 1) if mark else Location(1, 1)
            raise YamlSyntaxError(f"YAML: {error.problem}", where) from error
    return located


_PLAIN_COLLECTIONS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


def _convert(
    node: yaml.Node, path: Path, locations: dict[Path, Location], constructor: yaml.SafeLoader
) -> Any:
    where = Location(node.start_mark.line + 1, node.start_mark.column + 1)
    locations[path] = where
    if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN_COLLECTIONS:
        raise YamlSyntaxError(f"YAML tag '{node.tag}' is not allowed: remove it", where)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node)
            if key in result:
                raise YamlSyntaxError(
                    f"duplicate key '{key}': the second would silently replace the first",
                    Location(key_node.start_mark.line + 1, key_node.start_mark.column + 1),
                )
            result[key] = _convert(value_node, (*path, key), locations, constructor)
            if not isinstance(value_node, yaml.ScalarNode):  # point at the key of a block
                locations[(*path, key)] = Location(
                    key_node.start_mark.line + 1, key_node.start_mark.column + 1
                )
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _convert(item, (*path, i), locations, constructor) for i, item in enumerate(node.value)
        ]
    return constructor.construct_object(node)
