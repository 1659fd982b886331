"""The fault suite: real broker, real services as processes, real SMTP; marker `faults`.

`make faults` runs it at full size and writes the table to docs/reliability.md
(RAREMATCH_RELIABILITY_REPORT); CI runs the same scenarios smaller and writes nothing.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.faults.harness import FULL, Row, render_table

_ROWS: list[Row] = []
_BEGIN = "<!-- fault-suite table: begin -->"
_END = "<!-- fault-suite table: end -->"


FAULT_TEST_TIMEOUT_S = 1800 if FULL else 600
"""A scenario streams, kills and restarts for minutes; past this it hangs (pytest-timeout)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.faults)
            item.add_marker(pytest.mark.timeout(FAULT_TEST_TIMEOUT_S))


@pytest.fixture
def reliability() -> Iterator[list[Row]]:
    """Rows a scenario measured; kept for the report when the scenario passed or failed."""
    rows: list[Row] = []
    yield rows
    _ROWS.extend(rows)


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get("RAREMATCH_RELIABILITY_REPORT")
    if not target or not _ROWS:
        return
    path = Path(target)
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = (
        f"{_BEGIN}\nRun {stamp}, scale {'full' if FULL else 'ci'}, {os.cpu_count()} CPUs "
        f"({cpu}), Python {platform.python_version()}.\n\n{render_table(_ROWS)}{_END}"
    )
    text = path.read_text() if path.exists() else ""
    if _BEGIN in text and _END in text:
        text = text[: text.index(_BEGIN)] + block + text[text.index(_END) + len(_END) :]
    else:
        text += ("\n" if text else "") + block + "\n"
    path.write_text(text)
