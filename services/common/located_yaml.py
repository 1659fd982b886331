"""Safe YAML 1.2 loading (ruamel.yaml) that remembers where every value came from.

Rule files are edited by people and read by a running service, so a hostile or broken file
must be refused quickly and in bounded memory, with the line and column to fix:

- text over `MAX_BYTES` is refused before parsing;
- aliases are counted where they are *used*, at the size of what they expand to, so a
  "billion laughs" file is refused at the alias that crosses `MAX_NODES`, in linear time;
- nesting deeper than `MAX_DEPTH`, a recursive alias, any tag outside YAML's core schema
  (`!!python/object`, `!!binary`, a local `!tag`), a `%YAML` version other than 1.2, a
  collection used as a key, and a repeated key are refused at their location.

YAML 1.2 resolves only `true`/`false` as booleans: `NO`, `yes` and `on` stay strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent, DocumentStartEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "Located",
    "Location",
    "YamlSyntaxError",
    "load_located",
]

Path = tuple[str | int, ...]

MAX_BYTES = 1024 * 1024
"""The largest rule file read (UTF-8 bytes); the catalogue's largest is a few KB."""
MAX_NODES = 10_000
"""Nodes a file may hold once every alias is expanded: 20x the largest program in rules/
(~450), and few enough that the pure-Python parser refuses a file within a second."""
MAX_DEPTH = 100
"""Nested collections a file may hold; criteria nest a handful deep."""

_CORE = "tag:yaml.org,2002:"
_ALLOWED_TAGS = frozenset(
    _CORE + name for name in ("str", "int", "float", "bool", "null", "timestamp", "seq", "map")
)
"""YAML 1.2's core schema, plus the dates rule files carry (`transcribed: 2026-11-27`)."""


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
    """Parse one YAML 1.2 document into plain data and locations; refuse what is unsafe."""
    _check_size(text)
    yaml = YAML(typ="safe", pure=True)
    yaml.version = (1, 2)
    yaml.Composer = _BoundedComposer
    try:
        root = yaml.compose(text)
        located = Located(None)
        if root is not None:
            located.data = _Converter(yaml.constructor, located.locations).convert(root, ())
    except YamlSyntaxError:
        raise
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = _location(mark) if mark else Location(1, 1)
        raise YamlSyntaxError(f"YAML syntax: {error.problem or error}", where) from error
    except ReaderError as error:
        raise YamlSyntaxError(
            f"YAML: {error.reason} (character {error.character!r}): remove it",
            _offset_location(text, error.position),
        ) from error
    except YAMLError as error:
        raise YamlSyntaxError(f"YAML: {error}", Location(1, 1)) from error
    return located


def _check_size(text: str) -> None:
    size = len(text) if len(text) > MAX_BYTES else len(text.encode("utf-8", "replace"))
    if size > MAX_BYTES:
        raise YamlSyntaxError(
            f"file is {size:,} bytes, over the {MAX_BYTES:,}-byte (1 MiB) limit for a rule "
            "file: split it, or remove what was pasted in by mistake",
            Location(1, 1),
        )


def _location(mark: Any) -> Location:
    return Location(mark.line + 1, mark.column + 1)


def _offset_location(text: str, offset: int) -> Location:
    before = text[:offset]
    return Location(before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1)


class _BoundedComposer(Composer):
    """ruamel's composer, counting nodes as if every alias were expanded where it is used.

    Each node's expanded size is known once it is composed (an alias reuses its anchor's),
    so the count costs one addition per event however far the aliases would expand.
    """

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self._sizes: dict[int, int] = {}
        self._total = 0
        self._depth = 0

    def compose_document(self) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, DocumentStartEvent) and event.version not in (None, (1, 2)):
            version = ".".join(map(str, event.version))
            raise YamlSyntaxError(
                f"'%YAML {version}' is not supported: rule files are YAML 1.2; remove the line",
                _location(event.start_mark),
            )
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        where = _location(event.start_mark)
        if isinstance(event, AliasEvent):
            node = super().compose_node(parent, index)
            size = self._sizes.get(id(node))
            if size is None:
                raise YamlSyntaxError(
                    f"alias *{event.anchor} is used inside the node it names (a recursive "
                    "structure): write the value out instead",
                    where,
                )
            self._count(size, where, f"alias *{event.anchor} expands to {size:,} nodes and")
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise YamlSyntaxError(
                f"nested more than {MAX_DEPTH} levels deep: flatten the structure", where
            )
        node = super().compose_node(parent, index)
        self._depth -= 1
        tag = str(node.tag)
        if tag not in _ALLOWED_TAGS:
            shown = "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag
            raise YamlSyntaxError(
                f"YAML tag '{shown}' is not allowed (only plain YAML values are): remove it", where
            )
        size = 1 + sum(self._sizes[id(child)] for child in _children(node))
        self._sizes[id(node)] = size
        self._count(1, where, "this node")
        return node

    def _count(self, nodes: int, where: Location, what: str) -> None:
        self._total += nodes
        if self._total > MAX_NODES:
            raise YamlSyntaxError(
                f"{what} takes the file past {MAX_NODES:,} nodes (aliases count as what they "
                "expand to): write fewer values, or fewer aliases",
                where,
            )


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [item for pair in node.value for item in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


class _Converter:
    """Composed nodes -> plain dicts, lists and scalars, recording each path's location."""

    def __init__(self, constructor: Any, locations: dict[Path, Location]) -> None:
        self.constructor, self.locations = constructor, locations

    def convert(self, node: Node, path: Path) -> Any:
        self.locations[path] = _location(node.start_mark)
        if isinstance(node, MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self._key(key_node)
                if key in result:
                    raise YamlSyntaxError(
                        f"duplicate key '{key}': the second would silently replace the first",
                        _location(key_node.start_mark),
                    )
                result[key] = self.convert(value_node, (*path, key))
                if not isinstance(value_node, ScalarNode):  # point at the key of a block
                    self.locations[(*path, key)] = _location(key_node.start_mark)
            return result
        if isinstance(node, SequenceNode):
            return [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.constructor.construct_object(node)

    def _key(self, node: Node) -> Any:
        if not isinstance(node, ScalarNode):
            raise YamlSyntaxError(
                "a mapping key must be a plain value, not a list or mapping",
                _location(node.start_mark),
            )
        return self.constructor.construct_object(node)
