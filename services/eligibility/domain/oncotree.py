"""The OncoTree tumour-type hierarchy: codes, names and each code's lineage to the root."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["OncoTree", "bundled_oncotree"]

BUNDLED_FILE = "oncotree_2025_10_03.json"


@dataclass(frozen=True)
class OncoTree:
    parents: dict[str, str | None]
    names: dict[str, str]
    version: str

    @classmethod
    def from_json(cls, tree: dict[str, Any], version: str) -> OncoTree:
        parents: dict[str, str | None] = {}
        names: dict[str, str] = {}
        stack = [(node, None) for node in tree.values()]
        while stack:
            node, parent = stack.pop()
            parents[node["code"]] = parent
            names[node["code"]] = node["name"]
            stack.extend((child, node["code"]) for child in node.get("children", {}).values())
        return cls(parents, names, version)

    def __contains__(self, code: object) -> bool:
        return code in self.parents

    def lineage(self, code: str) -> list[str]:
        """The code itself, then each ancestor up to the root; `[code]` if unknown."""
        chain = [code]
        parent = self.parents.get(code)
        while parent is not None:
            chain.append(parent)
            parent = self.parents.get(parent)
        return chain

    def suggest(self, code: str) -> str | None:
        """The closest known code, for 'did you mean' hints."""
        matches = difflib.get_close_matches(code.upper(), self.parents, n=1, cutoff=0.6)
        return matches[0] if matches else None


@cache
def bundled_oncotree() -> OncoTree:
    """The OncoTree release shipped with rarematch (CC BY 4.0, see data/oncotree/SOURCE.md)."""
    text = resources.files(__package__).joinpath("data", "oncotree", BUNDLED_FILE).read_text()
    return OncoTree.from_json(json.loads(text), version=BUNDLED_FILE.removesuffix(".json"))
