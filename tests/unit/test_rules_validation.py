"""One validator for lint, tests, service start and every reload: engine refusals included."""

from __future__ import annotations

from pathlib import Path

import pytest

from rarematch.eligibility.domain.evaluate import compile_rules
from rarematch.eligibility.domain.oncotree import OncoTree, bundled_oncotree
from rarematch.eligibility.rulebook.parse import parse_program
from tests.unit.test_rulebook import HEADER, at

FILE = "rules/programs/test.yaml"


@pytest.fixture(scope="module")
def tree() -> OncoTree:
    return bundled_oncotree()


def _deep_any(depth: int, indent: int = 4) -> str:
    """`any` of an age check and `all` of two, nested `depth` levels: one more $or/$and each."""
    pad = " " * indent
    if depth == 0:
        return f"{pad}age: {{min_years: 18}}\n"
    operator = "any" if depth % 2 else "all"
    return f"{pad}{operator}:\n{pad}  - age: {{max_years: {90 - depth}}}\n{pad}  -\n" + _deep_any(
        depth - 1, indent + 4
    )


def _program(*criteria: str) -> str:
    return HEADER + "inclusion:\n" + "".join(criteria)


def _criterion(criterion_id: str, body: str) -> str:
    return f"  - id: {criterion_id}\n    text: A criterion\n" + body


def test_a_criterion_nested_past_the_engine_limit_is_a_located_lint_error(tree: OncoTree) -> None:
    text = _program(
        _criterion("fine", "    age: {min_years: 18}\n"), _criterion("deep", _deep_any(16))
    )
    [error] = parse_program(FILE, text, tree).errors
    assert error.code == "engine_refused"
    assert (error.line, error.column) == at(text, "id: deep")
    assert "criterion 'deep'" in error.message
    assert "split the criterion" in error.message


def test_a_criterion_at_the_limit_compiles(tree: OncoTree) -> None:
    """The check is the engine's own limit, not a stricter one: what passes lint compiles."""
    depth = next(
        d
        for d in range(16, 0, -1)
        if not parse_program(FILE, _program(_criterion("deep", _deep_any(d))), tree).errors
    )
    parsed = parse_program(FILE, _program(_criterion("deep", _deep_any(depth))), tree)
    assert parsed.program is not None
    assert depth >= 10
    compile_rules([parsed.program], "v", tree).engine.close()


def test_a_program_with_more_rules_than_a_ruleset_holds_is_refused_at_the_program(
    tree: OncoTree,
) -> None:
    criteria = [_criterion(f"c{n}", f"    age: {{min_years: {n % 90}}}\n") for n in range(60)]
    [error] = parse_program(FILE, _program(*criteria), tree).errors
    assert error.code == "engine_refused"
    assert (error.line, error.column) == (1, 1)
    assert "program is too large" in error.message
    assert "rules in one ruleset" in error.message


def test_the_shipped_rules_have_no_engine_refusals(tree: OncoTree) -> None:
    for path in sorted(Path("rules/programs").glob("*.yaml")):
        parsed = parse_program(str(path), path.read_text(encoding="utf-8"), tree)
        assert not [e for e in parsed.errors if e.code == "engine_refused"], path
