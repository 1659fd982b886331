"""`rarematch rules fmt`: canonical layout, comments kept, meaning unchanged, idempotent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rarematch.authoring import rules_app
from rarematch.common.located_yaml import YamlSyntaxError, load_located
from rarematch.eligibility.rulebook.canonical import canonical_yaml
from tests.hostile_yaml import alias_bomb

REPO = Path(__file__).resolve().parents[2]
CATALOGUE = [*sorted((REPO / "rules" / "programs").glob("*.yaml")), REPO / "rules/routing.yaml"]

MESSY = """\
# GD2 CAR-T (a test program)
id:    messy-gd2   # trailing comment stays
title: 'single-quoted: kept'
notify: [ paediatric-solid-tumours ]
sites:
- {  name: Some Hospital , country: IT }
inclusion:
    -   id: age
        text: "Age 1 to 25 years"
            # a comment on a line of its own
        age: { min_years: 1, max_years: 25 }
notes: |
  # a literal line, not a comment
      indented text
"""

CANONICAL = """\
# GD2 CAR-T (a test program)
id: messy-gd2      # trailing comment stays
title: 'single-quoted: kept'
notify: [paediatric-solid-tumours]
sites:
  - {name: Some Hospital, country: IT}
inclusion:
  - id: age
    text: "Age 1 to 25 years"
    # a comment on a line of its own
    age: {min_years: 1, max_years: 25}
notes: |
  # a literal line, not a comment
      indented text
"""


def test_a_messy_file_is_laid_out_canonically_with_its_comments() -> None:
    assert canonical_yaml(MESSY) == CANONICAL
    assert load_located(CANONICAL).data == load_located(MESSY).data


@pytest.mark.parametrize("path", CATALOGUE, ids=lambda p: p.name)
def test_fmt_keeps_every_catalogue_file_meaning_the_same_and_is_idempotent(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    once = canonical_yaml(text)
    assert load_located(once).data == load_located(text).data
    assert canonical_yaml(once) == once
    assert once == text, "the catalogue is kept formatted: run `rarematch rules fmt rules`"


def test_idempotent_on_the_messy_file() -> None:
    assert canonical_yaml(canonical_yaml(MESSY)) == canonical_yaml(MESSY)


def test_a_hostile_file_is_refused_not_formatted() -> None:
    with pytest.raises(YamlSyntaxError):
        canonical_yaml(alias_bomb())


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    (rules / "programs" / "messy.yaml").write_text(MESSY, encoding="utf-8")
    return rules


def fmt(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(rules_app, ["fmt", *args])
    return result.exit_code, result.output


def test_check_lists_the_files_that_would_change_and_writes_nothing(rules_dir: Path) -> None:
    code, output = fmt("--check", str(rules_dir))
    assert code == 1
    assert f"would reformat {rules_dir}/programs/messy.yaml" in output
    assert output.count("would reformat") == 1
    assert (rules_dir / "programs" / "messy.yaml").read_text() == MESSY


def test_diff_prints_a_unified_diff_and_writes_nothing(rules_dir: Path) -> None:
    code, output = fmt("--diff", str(rules_dir / "programs" / "messy.yaml"))
    assert code == 0
    assert "\n-    -   id: age\n" in output
    assert "\n+  - id: age\n" in output
    assert "(formatted)" in output
    assert (rules_dir / "programs" / "messy.yaml").read_text() == MESSY


def test_fmt_rewrites_then_check_passes(rules_dir: Path) -> None:
    code, output = fmt(str(rules_dir))
    assert (code, output.count("reformatted ")) == (0, 1)
    assert (rules_dir / "programs" / "messy.yaml").read_text() == CANONICAL
    assert fmt("--check", str(rules_dir))[0] == 0


def test_fmt_reports_a_file_that_does_not_load_and_leaves_it(rules_dir: Path) -> None:
    bomb = rules_dir / "programs" / "bomb.yaml"
    bomb.write_text(alias_bomb(), encoding="utf-8")
    code, output = fmt(str(rules_dir))
    assert code == 1
    assert f"{bomb}:5:153: alias *laugh_level_02" in output
    assert bomb.read_text() == alias_bomb()
