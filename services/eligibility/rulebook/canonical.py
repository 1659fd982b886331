"""The canonical layout of a rule file (`rarematch rules fmt`): ruamel.yaml round-trip.

Comments (and the column of a comment after a value), key order, quotes, flow or block
style and line breaks are the author's and stay; indentation becomes 2 spaces (list items
indented under their key), spacing inside flow collections and after colons is normalised,
and a comment on a line of its own is indented like the line it precedes. The text must
first load safely (`load_located`), and what the output loads to is checked to be the same
data, so formatting never changes a program.
"""

from __future__ import annotations

import io
import re

from ruamel.yaml import YAML

from rarematch.common.located_yaml import Location, YamlSyntaxError, load_located

__all__ = ["canonical_yaml"]

_WIDTH = 4096
"""Never re-wrap: where a long line breaks is the author's choice."""


def canonical_yaml(text: str) -> str:
    """`text` laid out canonically; YamlSyntaxError (with its location) when it does not load."""
    original = load_located(text).data
    dumped = _round_trip(text)
    for candidate in (_indent_comments(dumped), dumped):
        if load_located(candidate).data == original:
            return candidate
    raise YamlSyntaxError(  # a defect of ours or of ruamel's, never silently written
        "formatting would change what the file means: file a bug; the file was left as it is",
        Location(1, 1),
    )


def _round_trip(text: str) -> str:
    yaml = YAML(typ="rt", pure=True)
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = _WIDTH
    yaml.preserve_quotes = True
    out = io.StringIO()
    yaml.dump(yaml.load(text), out)
    return out.getvalue()


def _indent_comments(text: str) -> str:
    """Give each whole-line comment the indentation of the next line with content; a `#`
    line inside a block scalar (`|`, `>`) is text, and stays as it is."""
    lines = text.splitlines(keepends=True)
    in_scalar = _block_scalar_lines(lines)
    indent = 0
    for index in range(len(lines) - 1, -1, -1):
        stripped = lines[index].lstrip(" ")
        if index in in_scalar:
            continue
        if stripped.startswith("#"):
            lines[index] = " " * indent + stripped
        elif stripped.strip():
            indent = len(lines[index]) - len(stripped)
    return "".join(lines)


_BLOCK_SCALAR_HEADER = re.compile(r"(?:^|[:-]\s)[|>][0-9+-]*\s*(?:#.*)?$")


def _block_scalar_lines(lines: list[str]) -> set[int]:
    """Indexes of the lines that are the content of a block scalar."""
    inside: set[int] = set()
    header_indent: int | None = None
    for index, line in enumerate(lines):
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if header_indent is not None:
            if not stripped.strip() or indent > header_indent:
                inside.add(index)
                continue
            header_indent = None
        if _BLOCK_SCALAR_HEADER.search(stripped.rstrip("\n")):
            header_indent = indent
    return inside
