"""The README's examples are real: its routing example validates, its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from rarematch.notifier.domain.routing import Routing

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_first_lines_give_the_two_commands() -> None:
    first = README.splitlines()[:6]
    assert any(line.startswith("make demo") for line in first)
    assert any(line.startswith("make test") for line in first)


def test_the_routing_example_is_a_valid_routing_file() -> None:
    [example] = re.findall(r"```yaml\n(default_route:.*?)```", README, flags=re.DOTALL)
    routing = Routing.model_validate(yaml.safe_load(example))
    assert routing.routes["weekly-board"].mode == "digest"
    assert routing.routes["weekly-board"].digest_window.days == 7
