"""YAML 1.2 with locations (ruamel.yaml), and refusal of hostile rule files at file:line:col."""

from __future__ import annotations

import shutil
import tracemalloc
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rarematch.authoring import rules_app
from rarematch.common.located_yaml import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_NODES,
    Location,
    YamlSyntaxError,
    load_located,
)
from tests.hostile_yaml import alias_bomb, deep_nesting, oversized, python_tag

REPO = Path(__file__).resolve().parents[2]


def refusal(text: str) -> YamlSyntaxError:
    with pytest.raises(YamlSyntaxError) as caught:
        load_located(text)
    return caught.value


def test_every_node_has_its_line_and_column() -> None:
    located = load_located("a:\n  b:\n    - x\n    - {c: 1}\nd: 2\n")
    assert located.data == {"a": {"b": ["x", {"c": 1}]}, "d": 2}
    assert located.locations[("a",)] == Location(1, 1)  # a block points at its key
    assert located.locations[("a", "b", 0)] == Location(3, 7)
    assert located.locations[("a", "b", 1, "c")] == Location(4, 11)
    assert located.locations[("d",)] == Location(5, 4)
    assert located.locate(("a", "b", 1, "missing")) == Location(4, 7)


@pytest.mark.parametrize("word", ["NO", "no", "yes", "Yes", "on", "OFF", "y", "n"])
def test_yaml_1_1_booleans_stay_strings(word: str) -> None:
    """YAML 1.2: a country code `NO` (Norway) is not `false`."""
    assert load_located(f"country: {word}\n").data == {"country": word}


def test_core_scalars_are_typed() -> None:
    text = "t: true\nf: false\ni: 12\nx: 1.5\nn: null\ne:\nd: 2026-11-27\ns: '12'\n"
    assert load_located(text).data == {
        "t": True,
        "f": False,
        "i": 12,
        "x": 1.5,
        "n": None,
        "e": None,
        "d": date(2026, 11, 27),
        "s": "12",
    }


def test_a_yaml_1_1_directive_is_refused() -> None:
    """`%YAML 1.1` would turn `NO` back into false."""
    error = refusal("%YAML 1.1\n---\ncountry: NO\n")
    assert "YAML 1.2" in str(error)


def test_an_alias_bomb_is_refused_at_the_alias_in_bounded_memory() -> None:
    text = alias_bomb()
    assert 5_000 < len(text) < 7_000  # the 6 KB file that grew the service to 2.5 GB
    tracemalloc.start()
    try:
        error = refusal(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.location.line == 5
    assert text.splitlines()[4][error.location.column - 1 :].startswith("*laugh_level_02")
    assert f"past {MAX_NODES:,} nodes" in str(error)
    assert peak < 50 * 1024 * 1024


def test_aliases_within_the_budget_load() -> None:
    assert load_located("a: &x [1, 2]\nb: *x\n").data == {"a": [1, 2], "b": [1, 2]}


def test_a_recursive_alias_is_refused() -> None:
    error = refusal("a: &x\n  - *x\n")
    assert error.location == Location(2, 5)
    assert "recursive" in str(error)


def test_an_undefined_alias_is_located() -> None:
    assert refusal("a: 1\nb: *nowhere\n").location == Location(2, 4)


def test_nesting_past_the_limit_is_refused_where_it_goes_too_deep() -> None:
    assert load_located(deep_nesting(MAX_DEPTH - 1)).data["x"] is not None
    error = refusal(deep_nesting(MAX_DEPTH + 50))
    assert error.location == Location(2, 4 + MAX_DEPTH - 1)
    assert f"more than {MAX_DEPTH} levels" in str(error)


def test_an_oversized_text_is_refused_before_parsing_at_1_1() -> None:
    error = refusal(oversized(MAX_BYTES + 1) + "a: [unclosed\n")
    assert error.location == Location(1, 1)
    assert f"{MAX_BYTES + 1 + 13:,} bytes" in str(error)
    assert f"{MAX_BYTES:,}-byte" in str(error)


def test_the_size_limit_counts_utf8_bytes() -> None:
    text = "# " + "é" * (MAX_BYTES // 2) + "\n"  # fewer characters than the limit, more bytes
    assert len(text) < MAX_BYTES
    assert refusal(text).location == Location(1, 1)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (python_tag(), Location(2, 8)),
        ("id: x\nrun: !!python/name:os.system\n", Location(2, 6)),
        ("a:\n  - !!python/object/new:builtins.dict {x: 1}\n", Location(2, 5)),
        ("a: !!binary aGk=\n", Location(1, 4)),
        ("a: !!set {x}\n", Location(1, 4)),
        ("a: !local x\n", Location(1, 4)),
    ],
)
def test_tags_outside_the_core_schema_are_refused_at_the_tag(text: str, where: Location) -> None:
    error = refusal(text)
    assert error.location == where
    assert "is not allowed" in str(error)


def test_duplicate_keys_are_refused_at_the_second() -> None:
    error = refusal("a: 1\nb:\n  c: 2\n  c: 3\n")
    assert error.location == Location(4, 3)
    assert "duplicate key 'c'" in str(error)


def test_a_collection_key_is_refused() -> None:
    assert refusal("? [a, b]\n: c\n").location == Location(1, 3)


@pytest.mark.parametrize(
    ("text", "line"),
    [("a: [1, 2\nb: 3\n", 2), ("a: 1\n b: 2\n", 2), ("a: 'unclosed\n", 2), ("a: \x07\n", 1)],
)
def test_syntax_errors_are_located(text: str, line: int) -> None:
    assert refusal(text).location.line == line


def rules_dir_with(tmp_path: Path, name: str, text: str) -> Path:
    rules_dir = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules_dir)
    (rules_dir / "programs" / name).write_text(text, encoding="utf-8")
    return rules_dir


@pytest.mark.parametrize(
    ("text", "where"),
    [
        pytest.param(alias_bomb(), ":5:153: alias *laugh_level_02", id="alias-bomb"),
        pytest.param(oversized(2 * MAX_BYTES), ":1:1: file is 2,097,152 bytes", id="oversized"),
        pytest.param(python_tag(), ":2:8: YAML tag '!!python/object/apply", id="python-tag"),
    ],
)
def test_rules_lint_refuses_a_hostile_file_with_file_line_col(
    tmp_path: Path, text: str, where: str
) -> None:
    rules_dir = rules_dir_with(tmp_path, "hostile.yaml", text)
    result = CliRunner().invoke(rules_app, ["lint", str(rules_dir)])
    assert result.exit_code == 1
    assert f"{rules_dir}/programs/hostile.yaml{where}" in result.output
    assert "1 error(s) in 1 file(s)" in result.output
    assert max(map(len, result.output.splitlines())) < 400, "quoted a whole oversized line"
