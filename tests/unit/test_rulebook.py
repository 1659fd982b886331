"""Program files: every error says file:line:column and what to do; the real rules/ load clean."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from rarematch.common.contracts import Case
from rarematch.common.located_yaml import Location, YamlSyntaxError, load_located
from rarematch.common.rule_errors import RuleError
from rarematch.eligibility.domain.evaluate import evaluate
from rarematch.eligibility.domain.oncotree import OncoTree, bundled_oncotree
from rarematch.eligibility.rulebook.files import read_program_files
from rarematch.eligibility.rulebook.parse import parse_program, parse_rule_files
from rarematch.eligibility.rulebook.store import RulesInvalid, RuleStore, load_rules

REPO = Path(__file__).resolve().parents[2]
RULES_DIR = REPO / "rules"
NOW = datetime(2026, 11, 27, tzinfo=UTC)

HEADER = """\
id: NCT00000001
title: A test program
area: sarcoma
modality: CAR-T
status: recruiting
source: test
transcribed: 2026-11-27
"""
GOOD_CRITERION = """\
  - id: age
    text: Age 18 or older
    age: {min_years: 18}
"""
GOOD = HEADER + "inclusion:\n" + GOOD_CRITERION


@pytest.fixture(scope="module")
def tree() -> OncoTree:
    return bundled_oncotree()


def at(text: str, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """1-based (line, column) of the `occurrence`-th `needle` in `text`."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column


def errors(text: str, tree: OncoTree) -> list[RuleError]:
    parsed = parse_program("rules/programs/test.yaml", text, tree)
    return list(parsed.errors)


def only_error(text: str, tree: OncoTree) -> RuleError:
    [error] = errors(text, tree)
    return error


def test_a_good_file_parses(tree: OncoTree) -> None:
    parsed = parse_program("f.yaml", GOOD, tree)
    assert parsed.errors == ()
    assert parsed.program is not None
    assert parsed.program.id == "NCT00000001"
    assert parsed.program.inclusion[0].age is not None


def test_error_renders_as_file_line_column_message() -> None:
    error = RuleError("rules/programs/x.yaml", 12, 5, "code", "what is wrong")
    assert str(error) == "rules/programs/x.yaml:12:5: what is wrong"


class TestYaml:
    def test_syntax_error_points_at_the_problem(self, tree: OncoTree) -> None:
        text = HEADER + "inclusion:\n  - id: age\n   text: misaligned\n"
        error = only_error(text, tree)
        assert error.code == "yaml_syntax"
        assert (error.line, error.column) == at(text, "text: misaligned")
        assert str(error).startswith("rules/programs/test.yaml:10:4: ")

    def test_unclosed_flow_sequence(self, tree: OncoTree) -> None:
        text = HEADER + "inclusion:\n  - id: age\n    text: [unclosed\n    age: {min_years: 1}\n"
        error = only_error(text, tree)
        assert error.code == "yaml_syntax"
        assert error.line in (at(text, "[unclosed")[0], at(text, "age: {")[0])

    @pytest.mark.parametrize("text", ["", "- a list\n- not a mapping\n", "just a string\n"])
    def test_a_program_file_is_a_mapping(self, text: str, tree: OncoTree) -> None:
        error = only_error(text, tree)
        assert (error.code, error.line, error.column) == ("not_a_mapping", 1, 1)

    @pytest.mark.parametrize(
        "tag", ["!!python/object/apply:os.system", "!!python/name:os.system", "!!python/object:x.Y"]
    )
    def test_python_tags_on_scalars_are_rejected_not_constructed(
        self, tag: str, tree: OncoTree
    ) -> None:
        text = HEADER + "inclusion:\n  - id: age\n    text: " + tag + " 'echo pwned'\n"
        error = only_error(text, tree)
        assert error.code == "yaml_syntax"
        assert f"YAML tag '{tag}' is not allowed" in error.message
        assert (error.line, error.column) == at(text, tag)

    @pytest.mark.parametrize(
        "tagged",
        [
            pytest.param(
                "inclusion: !!python/object:builtins.list\n" + GOOD_CRITERION, id="on-a-list"
            ),
            pytest.param(
                "inclusion:\n  - !!python/object/new:builtins.dict\n    id: age\n"
                "    text: t\n    age: {min_years: 18}\n",
                id="on-a-mapping",
            ),
        ],
    )
    def test_python_tags_on_collections_are_rejected(self, tagged: str, tree: OncoTree) -> None:
        assert [e.code for e in errors(HEADER + tagged, tree)] == ["yaml_syntax"]

    def test_duplicate_keys_are_an_error(self, tree: OncoTree) -> None:
        text = GOOD + "inclusion:\n  - id: other\n    text: t\n    age: {max_years: 99}\n"
        assert [e.line for e in errors(text, tree)] == [at(text, "inclusion:", 2)[0]]

    def test_locations_of_nested_nodes(self) -> None:
        located = load_located("a:\n  b:\n    - x\n    - {c: 1}\n")
        assert located.data == {"a": {"b": ["x", {"c": 1}]}}
        assert located.locations[("a", "b", 0)] == Location(3, 7)
        assert located.locations[("a", "b", 1, "c")] == Location(4, 11)
        assert located.locate(("a", "b", 1, "missing")) == Location(4, 7)
        assert located.locate(("nowhere",)) == Location(1, 1)

    def test_syntax_error_location(self) -> None:
        with pytest.raises(YamlSyntaxError) as caught:
            load_located("a: [1, 2\nb: 3\n")
        assert caught.value.location.line == 2


class TestSchema:
    def test_unknown_field_typo(self, tree: OncoTree) -> None:
        text = HEADER + "inclusion:\n  - id: age\n    text: t\n    age: {min_yaers: 18}\n"
        error = only_error(text, tree)
        assert error.code == "extra_forbidden"
        assert error.message.startswith("unknown field 'min_yaers'")
        assert "min_years" in error.message.removeprefix("unknown field 'min_yaers'")
        assert error.line == at(text, "min_yaers")[0]

    def test_unknown_top_level_field_also_reports_what_is_missing(self, tree: OncoTree) -> None:
        text = HEADER + "inclusoin:\n" + GOOD_CRITERION
        found = {(e.code, e.line, e.column) for e in errors(text, tree)}
        assert found == {("extra_forbidden", *at(text, "inclusoin")), ("missing", 1, 1)}

    def test_missing_required_field_in_a_criterion(self, tree: OncoTree) -> None:
        text = HEADER + "inclusion:\n  - id: age\n    age: {min_years: 18}\n"
        error = only_error(text, tree)
        assert error.code == "missing"
        assert error.message.startswith("missing required field 'inclusion")
        assert error.message.endswith(".text'")
        assert (error.line, error.column) == at(text, "id: age")

    def test_missing_required_top_level_field(self, tree: OncoTree) -> None:
        error = only_error(GOOD.replace("title: A test program\n", ""), tree)
        assert (error.code, error.message) == ("missing", "missing required field 'title'")

    def test_a_criterion_with_two_checks(self, tree: OncoTree) -> None:
        text = GOOD + "  - id: two\n    text: t\n    age: {min_years: 1}\n    hla: {allele: A*02}\n"
        error = only_error(text, tree)
        assert (error.line, error.column) == at(text, "id: two")
        assert "give exactly one of" in error.message
        assert "(found age, hla)" in error.message

    def test_a_criterion_with_no_check(self, tree: OncoTree) -> None:
        text = GOOD + "  - id: none\n    text: t\n"
        error = only_error(text, tree)
        assert (error.line, error.column) == at(text, "id: none")
        assert "(found none)" in error.message

    def test_inverted_age_range(self, tree: OncoTree) -> None:
        text = GOOD + "  - id: range\n    text: t\n    age: {min_years: 30, max_years: 20}\n"
        error = only_error(text, tree)
        assert error.line == at(text, "age: {min_years: 30")[0]
        assert "the minimum age is above the maximum" in error.message

    def test_malformed_hla_allele(self, tree: OncoTree) -> None:
        text = GOOD + "  - id: hla\n    text: t\n    hla: {allele: A02:01}\n"
        error = only_error(text, tree)
        assert (error.line, error.column) == at(text, "A02:01")
        assert "'A02:01' is not an HLA allele; write it like A*02:01, A*02" in error.message

    @pytest.mark.parametrize(
        "allele", ["HLA-A*02:01:01:02L", "A*02:01P", "A*02:01:01G", "A2", "A*0201"]
    )
    def test_hla_forms_laboratories_write(self, tree: OncoTree, allele: str) -> None:
        text = GOOD + f"  - id: hla\n    text: t\n    hla: {{allele: '{allele}'}}\n"
        assert parse_program("f.yaml", text, tree).errors == ()

    @pytest.mark.parametrize("allele", ["A*\u0660\u0662:\u0660\u0661", "Bw4", "A*02:01N"])
    def test_hla_forms_refused_where_they_are_written(self, tree: OncoTree, allele: str) -> None:
        text = GOOD + f"  - id: hla\n    text: t\n    hla: {{allele: '{allele}'}}\n"
        error = only_error(text, tree)
        assert (error.line, error.column) == at(text, f"'{allele}'")
        assert f"'{allele}' is not" in error.message

    def test_duplicate_criterion_ids(self, tree: OncoTree) -> None:
        text = GOOD + "  - id: age\n    text: again\n    age: {max_years: 80}\n"
        error = only_error(text, tree)
        assert error.code == "duplicate_criterion_id"
        assert "criterion ids must be unique; repeated: age" in error.message

    def test_duplicate_criterion_id_points_at_the_repeat(self, tree: OncoTree) -> None:
        text = GOOD + "  - id: age\n    text: again\n    age: {max_years: 80}\n"
        assert only_error(text, tree).line == at(text, "id: age", 2)[0]

    def test_exclusion_uses_the_same_checks(self, tree: OncoTree) -> None:
        text = GOOD + "exclusion:\n  - id: x\n    text: t\n    hla: {allele: 'A*2'}\n"
        error = only_error(text, tree)
        assert error.line == at(text, "A*2")[0]


class TestOncoTreeCodes:
    def test_unknown_code_with_did_you_mean(self, tree: OncoTree) -> None:
        text = GOOD + "  - id: dx\n    text: t\n    diagnosis: {oncotree: [SYNZ]}\n"
        parsed = parse_program("f.yaml", text, tree)
        [error] = parsed.errors
        assert error.code == "unknown_oncotree_code"
        assert error.message == "unknown OncoTree code 'SYNZ' (did you mean SYNS?)"
        assert (error.line, error.column) == at(text, "SYNZ")

    def test_unknown_code_in_a_block_list_and_in_exclude(self, tree: OncoTree) -> None:
        text = GOOD + (
            "  - id: dx\n    text: t\n    diagnosis:\n      oncotree:\n        - SOFT_TISSUE\n"
            "        - NBLL\n      exclude: [QQQQQQQQ]\n"
        )
        found = [(e.line, e.column, e.message) for e in errors(text, tree)]
        assert [(line, column) for line, column, _ in found] == [
            at(text, "NBLL"),
            at(text, "QQQQQQQQ"),
        ]
        assert found[0][2] == "unknown OncoTree code 'NBLL' (did you mean NBL?)"
        assert found[1][2].startswith("unknown OncoTree code 'QQQQQQQQ' (see oncotree.mskcc.org")

    def test_unknown_code_inside_a_composition(self, tree: OncoTree) -> None:
        text = GOOD + (
            "  - id: dx\n    text: t\n    any:\n      - diagnosis: {oncotree: [LMS]}\n"
            "      - not: {diagnosis: {oncotree: [SYNZ]}}\n"
        )
        error = only_error(text, tree)
        assert (error.line, error.column) == at(text, "SYNZ")


def good_program(program_id: str) -> bytes:
    return GOOD.replace("NCT00000001", program_id).encode()


class TestRuleFiles:
    def test_duplicate_program_id_across_files(self, tree: OncoTree) -> None:
        rule_set, errs = parse_rule_files(
            [("b.yaml", good_program("NCT00000001")), ("a.yaml", good_program("NCT00000001"))],
            tree,
        )
        assert rule_set is None
        assert [(e.file, e.code) for e in errs] == [("b.yaml", "duplicate_program_id")]
        assert errs[0].message == "program id NCT00000001 is already defined in a.yaml"

    def test_one_bad_file_means_no_rule_set_and_every_error(self, tree: OncoTree) -> None:
        rule_set, errs = parse_rule_files(
            [
                ("a.yaml", good_program("NCT00000001")),
                ("b.yaml", b"id: [\n"),
                ("c.yaml", good_program("NCT00000003").replace(b"SYN", b"X")),
                (
                    "d.yaml",
                    good_program("NCT00000004").replace(b"status: recruiting", b"status: open"),
                ),
            ],
            tree,
        )
        assert rule_set is None
        assert [(e.file, e.code) for e in errs] == [
            ("b.yaml", "yaml_syntax"),
            ("d.yaml", "literal_error"),
        ]

    def test_version_is_a_content_hash(self, tree: OncoTree) -> None:
        files = [
            ("x/a.yaml", good_program("NCT00000001")),
            ("x/b.yaml", good_program("NCT00000002")),
        ]
        first, _ = parse_rule_files(files, tree)
        same, _ = parse_rule_files(list(reversed(files)), tree)
        moved, _ = parse_rule_files([("y/" + n.split("/")[1], d) for n, d in files], tree)
        edited, _ = parse_rule_files([files[0], (files[1][0], files[1][1] + b"\n")], tree)
        assert first is not None
        assert same is not None
        assert moved is not None
        assert edited is not None
        assert first.version.startswith("sha256:")
        assert first.version == same.version == moved.version
        assert edited.version != first.version
        assert [p.id for p in first.programs] == ["NCT00000001", "NCT00000002"]


class TestRealRules:
    def test_the_real_rules_directory_loads_with_no_errors(self, tree: OncoTree) -> None:
        rule_set, errs = parse_rule_files(read_program_files(RULES_DIR), tree)
        assert errs == []
        assert rule_set is not None
        assert {p.id for p in rule_set.programs} >= {
            "NCT02576431",
            "NCT03373097",
            "NCT03600883",
            "NCT04044768",
            "NCT05078866",
            "NCT05909527",
        }

    def test_each_file_is_named_after_its_program(self, tree: OncoTree) -> None:
        for name, data in read_program_files(RULES_DIR):
            parsed = parse_program(name, data.decode(), tree)
            assert parsed.program is not None
            assert Path(name).name.startswith(parsed.program.id + "-")

    def test_load_rules_compiles_the_directory(self, tree: OncoTree) -> None:
        rules = load_rules(RULES_DIR, tree)
        try:
            assert len(rules.programs) >= 6
            assert rules.version.startswith("sha256:")
        finally:
            rules.engine.close()

    def test_load_rules_lists_every_error(self, tmp_path: Path, tree: OncoTree) -> None:
        programs = tmp_path / "programs"
        programs.mkdir()
        (programs / "a.yaml").write_text(GOOD.replace("{min_years: 18}", "{min_yaers: 18}"))
        (programs / "b.yml").write_text(GOOD.replace("NCT00000001", "NCT00000002") + "  - x\n")
        (programs / "notes.txt").write_text("not a program")
        with pytest.raises(RulesInvalid) as caught:
            load_rules(tmp_path, tree)
        assert [Path(e.file).name for e in caught.value.errors] == ["a.yaml", "b.yml"]
        assert str(caught.value).startswith(f"{programs / 'a.yaml'}:")

    def test_a_rules_dir_without_programs_is_an_error(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError, match="rules/programs/"):
            read_program_files(tmp_path)


def test_rule_store_swaps_whole_rule_sets(tree: OncoTree) -> None:
    first = load_rules(RULES_DIR, tree)
    second = load_rules(RULES_DIR, tree)
    store = RuleStore(first)
    try:
        with store.use() as held:
            assert held is first
            store.swap(second)
            assert store.current() is second
            # a reader keeps the rule set it took, engine and all, until it is done
            assert evaluate(Case(case_id="c-1"), held, NOW)
        with store.use() as now_live:
            assert now_live is second
        with pytest.raises(KeyError):  # the replaced engine was closed after its last reader
            evaluate(Case(case_id="c-1"), first, NOW)
    finally:
        second.engine.close()
