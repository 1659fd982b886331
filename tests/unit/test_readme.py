"""The README's examples are real: routing example, commands, settings table and messages."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from rarematch.common.hla import parse_allele
from rarematch.common.setting_types import allowed_text
from rarematch.common.settings import (
    SETTINGS_MODELS,
    NotifierSettings,
    SettingsError,
    env_name,
    known_env_names,
    load_settings,
    unknown_variables,
)
from rarematch.eligibility.domain.criteria import HlaCheck
from rarematch.notifier.domain.routing import Routing
from tests.builders import make_case

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


def settings_rows() -> dict[str, list[str]]:
    """The Configuration table: variable -> its other cells (default, allowed, used by, meaning)."""
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\| `(RAREMATCH_[A-Z0-9_]+)` \|(.*)\|$", line)
        if match:
            rows[match[1]] = [cell.strip() for cell in match[2].split(" | ")]
    return rows


def test_the_settings_table_lists_every_setting_and_what_it_allows() -> None:
    rows = settings_rows()
    assert sorted(rows) == sorted(known_env_names())
    for model in SETTINGS_MODELS:
        for field, info in model.model_fields.items():
            name = env_name(model, field)
            assert rows[name][1] == allowed_text(info.annotation, info.metadata), name


@pytest.fixture
def no_settings(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.upper().startswith("RAREMATCH_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_the_settings_error_examples_are_what_the_loader_says(
    no_settings: pytest.MonkeyPatch,
) -> None:
    examples = re.findall(r"^error: ((RAREMATCH_\w+)='?([^' ]*?)'?[: ].*)$", README, flags=re.M)
    assert len(examples) >= 2
    for line, name, value in examples:
        with no_settings.context() as env:
            env.setenv(name, value)
            with pytest.raises(SettingsError) as raised:
                load_settings(NotifierSettings)
        assert raised.value.problems == [line]


def test_the_misspelling_example_is_what_the_loader_says() -> None:
    [(line, name)] = re.findall(r"^(warning: (RAREMATCH_\w+) is not .*)$", README, flags=re.M)
    assert unknown_variables({name: "1"}, known_env_names()) == [line]


def test_every_hla_form_the_readme_shows_is_read_by_cases_and_rules_alike() -> None:
    section = README.split("### HLA typing", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "`" in line]
    examples = [ex for row in rows for ex in re.findall(r"`([^`]+)`", row.split("|")[2])]
    assert len(examples) >= 10
    for example in examples:
        assert make_case(hla_alleles=[example]).hla_alleles == [example]
        assert HlaCheck(allele=example).allele == str(parse_allele(example))
