"""Where program files live under a rules directory, read from disk in one pass."""

from __future__ import annotations

from pathlib import Path

__all__ = ["PROGRAMS_SUBDIR", "read_program_files"]

PROGRAMS_SUBDIR = "programs"


def read_program_files(rules_dir: Path) -> list[tuple[str, bytes]]:
    """(path as shown to authors, bytes) of every `programs/*.yaml`, sorted by name."""
    folder = rules_dir / PROGRAMS_SUBDIR
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a directory: program files go in rules/programs/")
    return [(str(path), path.read_bytes()) for path in sorted(folder.glob("*.y*ml"))]
