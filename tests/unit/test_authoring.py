"""`rarematch rules lint | test` run the service's own validator: same files, same words."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rarematch.authoring import rules_app
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from rarematch.eligibility.rulebook.store import RulesInvalid, load_rules
from tests.unit.test_rules_validation import _criterion, _deep_any, _program

REPO = Path(__file__).resolve().parents[2]


def rules_dir_with(tmp_path: Path, program: str) -> Path:
    rules_dir = tmp_path / "rules"
    (rules_dir / "programs").mkdir(parents=True)
    shutil.copy(REPO / "rules" / "routing.yaml", rules_dir)
    (rules_dir / "programs" / "p.yaml").write_text(program, encoding="utf-8")
    return rules_dir


def lint(rules_dir: Path) -> tuple[int, str]:
    result = CliRunner().invoke(rules_app, ["lint", str(rules_dir)])
    return result.exit_code, result.output


def service_errors(rules_dir: Path) -> list[str]:
    with pytest.raises(RulesInvalid) as refused:
        load_rules(rules_dir, bundled_oncotree())
    return [str(e) for e in refused.value.errors]


@pytest.mark.parametrize(
    "program",
    [
        _program(_criterion("deep", _deep_any(16))),
        _program(_criterion("adult", "    age: {min_years: 18}\n")) + "notify: [no-such-route]\n",
        _program(_criterion("adult", "    age: {min_years: 18}\n")).replace("status:", "statu:"),
    ],
    ids=["engine-refused", "unknown-route", "schema"],
)
def test_lint_and_the_service_refuse_the_same_files_with_the_same_words(
    tmp_path: Path, program: str
) -> None:
    rules_dir = rules_dir_with(tmp_path, program)
    code, output = lint(rules_dir)
    errors = service_errors(rules_dir)
    assert code == 1
    assert errors
    for error in errors:
        assert error in output
    assert f"{rules_dir}/programs/p.yaml:" in errors[0]


def test_lint_passes_the_shipped_rules() -> None:
    code, output = lint(REPO / "rules")
    assert code == 0, output
    assert "program files OK" in output
