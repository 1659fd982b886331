"""Where program files live under a rules directory, read from disk in one pass."""

from __future__ import annotations

from pathlib import Path

__all__ = ["PROGRAMS_SUBDIR", "collect_program_files", "read_program_files"]

PROGRAMS_SUBDIR = "programs"


def read_program_files(rules_dir: Path) -> list[tuple[str, bytes]]:
    """(path as shown to authors, bytes) of every `programs/*.yaml`, sorted by name."""
    folder = rules_dir / PROGRAMS_SUBDIR
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a directory: program files go in rules/programs/")
    return [(str(path), path.read_bytes()) for path in sorted(folder.glob("*.y*ml"))]


def collect_program_files(paths: list[Path]) -> list[tuple[str, bytes]]:
    """Program files named on a command line: files as given; a rules directory (with
    `programs/`) or a folder of YAML files expands to its `*.yaml`."""
    found: dict[str, bytes] = {}
    for path in paths:
        if path.is_dir():
            folder = path / PROGRAMS_SUBDIR if (path / PROGRAMS_SUBDIR).is_dir() else path
            files = sorted(folder.glob("*.y*ml"))
            if not files:
                raise FileNotFoundError(f"{path}: no program files (*.yaml) here")
        elif path.is_file():
            files = [path]
        else:
            raise FileNotFoundError(f"{path}: no such file or directory")
        found.update((str(file), file.read_bytes()) for file in files)
    return sorted(found.items())
