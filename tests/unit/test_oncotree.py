"""The bundled OncoTree: lineages for descendant matching, and 'did you mean' suggestions."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rarematch.eligibility.domain.oncotree import OncoTree, bundled_oncotree
from tests.builders import make_case
from tests.strategies import oncotree_codes
from tests.unit.engine_harness import status_of


@pytest.fixture(scope="module")
def tree() -> OncoTree:
    return bundled_oncotree()


@pytest.mark.parametrize(
    ("code", "lineage"),
    [
        ("LMS", ["LMS", "SOFT_TISSUE", "TISSUE"]),
        ("SYNS", ["SYNS", "SOFT_TISSUE", "TISSUE"]),
        ("MRLS", ["MRLS", "LIPO", "SOFT_TISSUE", "TISSUE"]),
        ("NBL", ["NBL", "PNS", "TISSUE"]),
        ("TLL", ["TLL", "LNM", "LYMPH", "TISSUE"]),
        ("SOFT_TISSUE", ["SOFT_TISSUE", "TISSUE"]),
        ("TISSUE", ["TISSUE"]),
    ],
)
def test_lineage_runs_from_the_code_to_the_root(
    tree: OncoTree, code: str, lineage: list[str]
) -> None:
    assert tree.lineage(code) == lineage


def test_unknown_code_has_only_itself_as_lineage(tree: OncoTree) -> None:
    assert "NOT_A_CODE" not in tree
    assert tree.lineage("NOT_A_CODE") == ["NOT_A_CODE"]


def test_every_code_reaches_the_single_root(tree: OncoTree) -> None:
    assert len(tree.parents) == 898
    for code in tree.parents:
        lineage = tree.lineage(code)
        assert lineage[-1] == "TISSUE"
        assert len(lineage) == len(set(lineage)), f"cycle under {code}"


def test_names(tree: OncoTree) -> None:
    assert tree.names["LMS"] == "Leiomyosarcoma"
    assert tree.names["SOFT_TISSUE"] == "Soft Tissue"


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [("SYNZ", "SYNS"), ("syns", "SYNS"), ("LUADD", "LUAD"), ("SOFT_TISUE", "SOFT_TISSUE")],
)
def test_suggest_the_closest_code(tree: OncoTree, typo: str, suggestion: str) -> None:
    assert tree.suggest(typo) == suggestion


def test_suggest_nothing_for_gibberish(tree: OncoTree) -> None:
    assert tree.suggest("QQQQQQQQ") is None


def test_from_json_builds_parents_and_names() -> None:
    tree = OncoTree.from_json(
        {
            "ROOT": {
                "code": "ROOT",
                "name": "Root",
                "children": {
                    "A": {"code": "A", "name": "a", "children": {"B": {"code": "B", "name": "b"}}}
                },
            }
        },
        version="t",
    )
    assert tree.lineage("B") == ["B", "A", "ROOT"]
    assert tree.parents["ROOT"] is None
    assert tree.version == "t"


def test_bundled_tree_is_cached_and_versioned(tree: OncoTree) -> None:
    assert bundled_oncotree() is tree
    assert tree.version == "oncotree_2025_10_03"


def test_cc_by_attribution_ships_beside_the_data() -> None:
    source = resources.files("rarematch.eligibility.domain").joinpath(
        "data", "oncotree", "SOURCE.md"
    )
    text = source.read_text()
    assert "CC BY 4.0" in text
    assert "Memorial Sloan Kettering" in text


@st.composite
def code_and_criterion(draw: st.DrawFn) -> tuple[str, str]:
    """A case's code and a criterion's code: one inside the other's lineage, or unrelated."""
    lineage = bundled_oncotree().lineage
    first, second = draw(oncotree_codes()), draw(oncotree_codes())
    return draw(
        st.one_of(
            st.sampled_from(lineage(first)).map(lambda ancestor: (first, ancestor)),
            st.sampled_from(lineage(first)).map(lambda ancestor: (ancestor, first)),
            st.just((first, second)),
        )
    )


@given(code=oncotree_codes())
def test_each_step_of_a_lineage_is_the_parent_of_the_one_before(code: str) -> None:
    tree = bundled_oncotree()
    lineage = tree.lineage(code)
    assert [tree.parents[c] for c in lineage] == [*lineage[1:], None]


def expected_status(code: str, wanted: str, excluded: str | None) -> str:
    """DESIGN.md: a descendant is inside; a case coded more coarsely may be, so unknown."""
    lineage = bundled_oncotree().lineage
    if excluded in lineage(code):
        return "not_met"
    if wanted in lineage(code):
        return "met"
    return "unknown" if code in lineage(wanted)[1:] else "not_met"


@given(codes=code_and_criterion(), data=st.data())
def test_a_diagnosis_check_meets_exactly_the_descendants_it_names(
    codes: tuple[str, str], data: st.DataObject
) -> None:
    code, wanted = codes
    in_lineage = st.sampled_from(bundled_oncotree().lineage(code))
    excluded = data.draw(st.one_of(st.none(), in_lineage, oncotree_codes()), label="excluded")
    check: dict[str, Any] = {"oncotree": [wanted]} | ({"exclude": [excluded]} if excluded else {})
    case = make_case(diagnosis={"oncotree_code": code})
    assert status_of({"diagnosis": check}, case) == expected_status(code, wanted, excluded)
