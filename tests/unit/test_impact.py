"""`rules impact`: what a proposed rule set changes, per program, for the example cases.

The pure part (eligibility.domain.impact) over real rule directories: the shipped rules and
copies of them with one program edited, added, removed or closed; then the CLI.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rarematch.authoring import IMPACT_CHANGES, IMPACT_INVALID, rules_app
from rarematch.common.contracts import Case, Outcome
from rarematch.common.contracts.cloudevents import parse_body
from rarematch.eligibility.domain.evaluate import CompiledRules, evaluate
from rarematch.eligibility.domain.impact import Impact, ProgramImpact, impact, stored_state
from rarematch.eligibility.domain.lifecycle import Catalogue, ChangeReason, changes_for
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from rarematch.eligibility.rulebook.store import load_rules

REPO = Path(__file__).resolve().parents[2]
CASE_FILES = sorted((REPO / "examples" / "cases").glob("*.json"))
CASES = [parse_body(Case, file.read_bytes()) for file in CASE_FILES]
NOW = datetime(2026, 12, 2, tzinfo=UTC)
TECELRA = REPO / "rules" / "programs" / "TECELRA-US-afami-cel.yaml"
SARCOMA = "case-sarc-0001"
"""The only example case open for TECELRA-US (eligible) under the shipped rules."""

SARCOMA_FILE = REPO / "examples" / "cases" / "sarcoma-synovial-hla-a0201.json"
Edit = Callable[[Path], None]


def edit_tecelra(old: str, new: str) -> Edit:
    def edit(rules_dir: Path) -> None:
        path = rules_dir / "programs" / TECELRA.name
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new), encoding="utf-8")

    return edit


CLOSE_TECELRA = edit_tecelra("status: recruiting", "status: closed")


def remove_tecelra(rules_dir: Path) -> None:
    (rules_dir / "programs" / TECELRA.name).unlink()


def rules_copy(tmp_path: Path, name: str, edit: Edit | None = None) -> Path:
    rules_dir = tmp_path / name
    shutil.copytree(REPO / "rules", rules_dir)
    if edit:
        edit(rules_dir)
    return rules_dir


@pytest.fixture
def compiled() -> Iterator[Callable[[Path], CompiledRules]]:
    opened: list[CompiledRules] = []

    def load(rules_dir: Path) -> CompiledRules:
        opened.append(load_rules(rules_dir, bundled_oncotree()))
        return opened[-1]

    yield load
    for rules in opened:
        rules.engine.close()


def preview(
    tmp_path: Path,
    compiled: Callable[[Path], CompiledRules],
    base_edit: Edit | None,
    proposed_edit: Edit | None,
) -> Impact:
    base = compiled(rules_copy(tmp_path, "base", base_edit))
    proposed = compiled(rules_copy(tmp_path, "proposed", proposed_edit))
    return impact(CASES, base, proposed, NOW)


def program(result: Impact, program_id: str) -> ProgramImpact:
    [found] = [p for p in result.programs if p.program_id == program_id]
    return found


def test_the_example_cases_cover_tecelra() -> None:
    assert len(CASES) == len(CASE_FILES) >= 6
    assert SARCOMA in {case.case_id for case in CASES}


def test_identical_rules_change_nothing(
    tmp_path: Path, compiled: Callable[[Path], CompiledRules]
) -> None:
    result = preview(tmp_path, compiled, None, None)
    assert result.changes == 0
    assert result.cases == len(CASES)
    assert {p.status for p in result.programs} == {"same", "closed_both"}
    assert program(result, "TECELRA-US").unchanged == [SARCOMA]
    assert sum(len(p.unchanged) for p in result.programs) > len(CASES)


def test_a_criterion_the_case_now_fails_revokes_it_naming_the_criterion(
    tmp_path: Path, compiled: Callable[[Path], CompiledRules]
) -> None:
    result = preview(tmp_path, compiled, None, edit_tecelra("min_years: 18", "min_years: 80"))
    tecelra = program(result, "TECELRA-US")
    assert tecelra.status == "edited"
    [(case_id, change)] = tecelra.revoked
    assert case_id == SARCOMA
    assert (change.previous, change.reason, change.failing_criterion) == (
        Outcome.ELIGIBLE,
        ChangeReason.FAILS_CRITERION,
        "age",
    )
    assert tecelra.unchanged == []
    assert result.changes == 1  # no other program moves
    assert {p.status for p in result.programs if p.program_id != "TECELRA-US"} <= {
        "same",
        "closed_both",
    }


def test_a_criterion_the_case_cannot_answer_changes_eligible_to_needs_info(
    tmp_path: Path, compiled: Callable[[Path], CompiledRules]
) -> None:
    lvef = (
        "  - id: lvef\n    text: 'LVEF at least 45 %'\n"
        "    organ_function: {measure: lvef_percent, min: 45}\n"
    )
    result = preview(tmp_path, compiled, None, edit_tecelra("inclusion:\n", "inclusion:\n" + lvef))
    [(case_id, change)] = program(result, "TECELRA-US").changed
    assert case_id == SARCOMA
    assert (change.previous, change.outcome, change.reason) == (
        Outcome.ELIGIBLE,
        Outcome.NEEDS_INFO,
        ChangeReason.OUTCOME_CHANGED,
    )
    assert result.changes == 1


def test_an_added_program_matches_newly(
    tmp_path: Path, compiled: Callable[[Path], CompiledRules]
) -> None:
    result = preview(tmp_path, compiled, remove_tecelra, None)
    tecelra = program(result, "TECELRA-US")
    assert (tecelra.status, tecelra.newly_eligible, tecelra.newly_needs_info) == (
        "added",
        [SARCOMA],
        [],
    )
    assert result.changes == 1


def test_a_reopened_program_matches_newly(
    tmp_path: Path, compiled: Callable[[Path], CompiledRules]
) -> None:
    closed = edit_tecelra("status: recruiting", "status: closed")
    result = preview(tmp_path, compiled, closed, None)
    tecelra = program(result, "TECELRA-US")
    assert (tecelra.status, tecelra.newly_eligible) == ("reopened", [SARCOMA])


@pytest.mark.parametrize(
    ("edit", "status", "reason"),
    [
        (remove_tecelra, "removed", ChangeReason.PROGRAM_REMOVED),
        (
            edit_tecelra("status: recruiting", "status: closed"),
            "closed",
            ChangeReason.PROGRAM_CLOSED,
        ),
    ],
    ids=["removed", "closed"],
)
def test_a_removed_or_closed_program_revokes_its_open_decisions(
    tmp_path: Path,
    compiled: Callable[[Path], CompiledRules],
    edit: Edit,
    status: str,
    reason: ChangeReason,
) -> None:
    result = preview(tmp_path, compiled, None, edit)
    tecelra = program(result, "TECELRA-US")
    assert tecelra.status == status
    assert [(case_id, c.previous, c.reason) for case_id, c in tecelra.revoked] == [
        (SARCOMA, Outcome.ELIGIBLE, reason)
    ]
    assert result.changes == 1


@pytest.mark.parametrize(
    "edit",
    [
        edit_tecelra("min_years: 18", "min_years: 80"),
        edit_tecelra("status: recruiting", "status: closed"),
        remove_tecelra,
    ],
    ids=["edited", "closed", "removed"],
)
def test_the_preview_equals_the_reference_evaluation_of_every_open_program(
    tmp_path: Path, compiled: Callable[[Path], CompiledRules], edit: Edit
) -> None:
    """What the service would publish, from the full rulesets rather than gate and screens."""
    base = compiled(rules_copy(tmp_path, "base"))
    proposed = compiled(rules_copy(tmp_path, "proposed", edit))
    result = impact(CASES, base, proposed, NOW)
    predicted = sorted(
        (case_id, c.program_id, c.outcome, c.reason)
        for p in result.programs
        for case_id, c in p.revoked + p.changed
    ) + sorted((case_id, p.program_id) for p in result.programs for case_id in p.newly_eligible)
    reference: list[tuple[str, str, Outcome, ChangeReason]] = []
    new: list[tuple[str, str]] = []
    for case in CASES:
        decided = {d.program_id: d for d in evaluate(case, proposed, NOW)}
        changes, _ = changes_for(
            stored_state(case, base, NOW), decided, Catalogue.of(proposed.programs)
        )
        for c in changes:
            if c.reason is ChangeReason.NEW:
                new.append((case.case_id, c.program_id))
            else:
                reference.append((case.case_id, c.program_id, c.outcome, c.reason))
    assert predicted == sorted(reference) + sorted(new)
    assert reference


# The command: exit codes, output formats, the case file.


def cases_jsonl(tmp_path: Path, extra: list[str] | None = None) -> Path:
    lines = [json.dumps(json.loads(file.read_text())) for file in CASE_FILES]
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(lines + (extra or [])) + "\n", encoding="utf-8")
    return path


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(rules_app, ["impact", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def test_the_command_exits_0_when_nothing_changes(tmp_path: Path) -> None:
    proposed = rules_copy(tmp_path, "proposed")
    code, out, _ = run(proposed, "--base", REPO / "rules", "--cases", cases_jsonl(tmp_path))
    assert code == 0, out
    assert "0 change(s)" in out
    assert f"{len(CASES)} case(s)" in out


def test_the_command_lists_changes_by_case_id_and_exits_1(tmp_path: Path) -> None:
    proposed = rules_copy(tmp_path, "proposed", edit_tecelra("min_years: 18", "min_years: 80"))
    cases = cases_jsonl(tmp_path)
    code, out, _ = run(proposed, "--base", REPO / "rules", "--cases", cases)
    assert code == IMPACT_CHANGES == 1, out
    assert "TECELRA-US (edited)" in out
    assert f"revoked              1: {SARCOMA} (eligible, age)" in out
    assert "1 change(s)" in out

    code, out, _ = run(proposed, "--base", REPO / "rules", "--cases", cases, "--format", "json")
    assert code == IMPACT_CHANGES
    report = json.loads(out)
    [tecelra] = [p for p in report["programs"] if p["program_id"] == "TECELRA-US"]
    assert tecelra["revoked"] == [
        {
            "case_id": SARCOMA,
            "outcome": "revoked",
            "previous": "eligible",
            "reason": "fails_criterion",
            "failing_criterion": "age",
        }
    ]
    assert (report["cases"], report["changes"], report["skipped"]) == (len(CASES), 1, [])


def test_the_base_defaults_to_the_rules_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proposed = rules_copy(tmp_path, "proposed", remove_tecelra)
    cases = cases_jsonl(tmp_path)
    monkeypatch.chdir(REPO)
    code, out, _ = run(proposed, "--cases", cases)
    assert code == IMPACT_CHANGES, out
    assert "TECELRA-US (removed)" in out


def test_an_invalid_proposal_prints_the_lint_errors_and_exits_2(tmp_path: Path) -> None:
    broken = edit_tecelra("status: recruiting", "statu: recruiting")
    proposed = rules_copy(tmp_path, "proposed", broken)
    code, _, err = run(proposed, "--base", REPO / "rules", "--cases", cases_jsonl(tmp_path))
    lint = CliRunner().invoke(rules_app, ["lint", str(proposed)])
    assert code == IMPACT_INVALID == 2
    assert lint.exit_code == 1
    assert err.strip()
    assert err == lint.stderr
    assert f"{proposed}/programs/{TECELRA.name}:" in err


def test_a_bad_line_is_reported_with_file_and_line_and_skipped(tmp_path: Path) -> None:
    cases = cases_jsonl(tmp_path, ['{"case_id": "case-bad-0001", "age": "12"}', "not json"])
    code, out, err = run(rules_copy(tmp_path, "p"), "--base", REPO / "rules", "--cases", cases)
    assert code == 0, out
    assert f"{cases}:{len(CASES) + 1}: " in err
    assert f"{cases}:{len(CASES) + 2}: " in err
    assert "2 skipped" in out
    assert "case-bad" not in out


def test_a_file_without_a_valid_case_exits_2(tmp_path: Path) -> None:
    cases = tmp_path / "bad.jsonl"
    cases.write_text("{}\n\n[1]\n", encoding="utf-8")
    code, _, err = run(rules_copy(tmp_path, "p"), "--base", REPO / "rules", "--cases", cases)
    assert code == IMPACT_INVALID
    assert f"{cases}:1: " in err
    assert f"{cases}:3: " in err
    assert "no valid case" in err


def test_a_later_line_for_the_same_case_replaces_the_earlier_one(tmp_path: Path) -> None:
    first = json.loads(
        (REPO / "examples" / "cases" / "sarcoma-synovial-hla-a0201.json").read_text()
    )
    cases = cases_jsonl(tmp_path, [json.dumps(first | {"age": {"years": 90}})])
    proposed = rules_copy(tmp_path, "proposed", edit_tecelra("min_years: 18", "min_years: 80"))
    code, out, _ = run(proposed, "--base", REPO / "rules", "--cases", cases)
    assert f"{len(CASES)} case(s)" in out
    assert code == 0, out  # the 90-year-old is an adult under both rule sets
