"""Hostile rule files, shared by the unit, integration and fault tests."""

from __future__ import annotations

__all__ = ["alias_bomb", "deep_nesting", "oversized", "python_tag"]


def alias_bomb(levels: int = 30, width: int = 10) -> str:
    """A "billion laughs" file of about 6 KB: level n holds `width` aliases of level n-1, so
    the last level expands to about width**levels nodes. With the defaults, line 5 (level 3,
    ten aliases of 1,111 nodes each) crosses a budget of 10,000."""
    lines = ["id: alias-bomb", f"laugh_level_00: &laugh_level_00 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels):
        aliases = ", ".join([f"*laugh_level_{level - 1:02d}"] * width)
        lines.append(f"laugh_level_{level:02d}: &laugh_level_{level:02d} [{aliases}]")
    return "\n".join(lines) + "\n"


def deep_nesting(depth: int) -> str:
    return "id: deep\nx: " + "[" * depth + "]" * depth + "\n"


def oversized(size: int) -> str:
    """A valid-looking program file of `size` bytes: a huge comment, as if pasted in."""
    head = "id: oversized\ntitle: pasted a whole protocol\n# "
    return head + "x" * (size - len(head) - 1) + "\n"


def python_tag(tag: str = "!!python/object/apply:os.system") -> str:
    return f"id: tagged\ntitle: {tag} ['touch /tmp/pwned']\n"
