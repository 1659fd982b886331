"""HLA nomenclature as laboratories write it, and resolution-aware restrictions.

One parser (`rarematch.common.hla`, mhcgnomes behind an ASCII pattern) for cases and rules; a
typing never proves more than it says: `A*02:01` implies `A*02`, never the reverse; a P or G
group or a serological antigen proves at most its first field; null alleles satisfy nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from rarematch.common.contracts import Case
from rarematch.common.contracts.case import MAX_HLA_ALLELES
from rarematch.common.hla import (
    HLA_ALLELE_PATTERN,
    SEROTYPES,
    HlaAllele,
    HlaParseError,
    parse_allele,
)
from rarematch.eligibility.domain.criteria import HlaCheck
from tests.builders import make_case
from tests.strategies import hla_alleles
from tests.unit.engine_harness import Checks, compiled, fact, node, status_of
from tests.unit.test_strict_intake import CASE_SCHEMA, with_body

# --- forms -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical", "resolution", "expression"),
    [
        ("A*02", "A*02", ("02",), "expressed"),
        ("A*02:01", "A*02:01", ("02", "01"), "expressed"),
        ("HLA-A*02:01", "A*02:01", ("02", "01"), "expressed"),
        ("A*02:01:01:01", "A*02:01:01:01", ("02", "01", "01", "01"), "expressed"),
        ("HLA-A*02:01:01:02L", "A*02:01:01:02L", ("02", "01", "01", "02"), "expressed"),
        ("A*02:01N", "A*02:01N", ("02", "01"), "null"),
        ("B*44:02:01:02S", "B*44:02:01:02S", ("44", "02", "01", "02"), "uncertain"),
        ("A*32:11Q", "A*32:11Q", ("32", "11"), "uncertain"),
        ("A*02:01P", "A*02:01P", ("02",), "expressed"),
        ("A*02:01:01G", "A*02:01:01G", ("02",), "uncertain"),
        ("A*0201", "A*02:01", ("02", "01"), "expressed"),
        ("HLA-A*020101", "A*02:01:01", ("02", "01", "01"), "expressed"),
        ("A*0201N", "A*02:01N", ("02", "01"), "null"),
        ("DRB1*1501", "DRB1*15:01", ("15", "01"), "expressed"),
        ("A*02:101", "A*02:101", ("02", "101"), "expressed"),
        ("DPB1*104:01", "DPB1*104:01", ("104", "01"), "expressed"),
        ("A2", "A2", ("02",), "expressed"),
        ("HLA-A2", "A2", ("02",), "expressed"),
        ("Cw7", "Cw7", ("07",), "expressed"),
        ("B70", "B70", ("15",), "expressed"),
        ("DR15", "DR15", ("15",), "expressed"),
        ("A9", "A9", (), "expressed"),
        (" A*02:01 ", "A*02:01", ("02", "01"), "expressed"),
    ],
)
def test_laboratory_forms_parse_to_what_they_prove(
    text: str, canonical: str, resolution: tuple[str, ...], expression: str
) -> None:
    allele = parse_allele(text)
    assert (str(allele), allele.resolution, allele.expression) == (
        canonical,
        resolution,
        expression,
    )


def test_serological_antigens_name_their_locus() -> None:
    assert [parse_allele(s).locus for s in ("A2", "B70", "Cw7", "DR15", "DR52", "DQ2")] == [
        "A",
        "B",
        "C",
        "DRB1",
        "DRB3",
        "DQB1",
    ]


MALFORMED = [
    "A02:01",
    "A*2",
    "A*02:1",
    "A*02:01:01:01:01",
    "*02:01",
    "A*",
    "A*02::01",
    "",
    "a*02:01",
    "A*02:01X",
    "A*02:01NN",
    "HLA-A",
    "A*\u0660\u0662:\u0660\u0661",  # Arabic-Indic digits
    "A*\uff10\uff12:\uff10\uff11",  # full-width digits
    "Q*02:01",
    "A*02P",
    "A*02:01:01P",
    "A*02:01G",
    "A*02:01:01:01G",
    "A*02:01PG",
    "A*02:01P:01",
    "A*02101",
    "Bw4",
    "Bw6",
    "A2403",
    "A2.1",
    "CW7",
    "a2",
    "A99",
    "A*02:01/02:02",
    "A*02:XX",
]


@pytest.mark.parametrize("text", MALFORMED)
def test_other_forms_are_refused_without_echoing_the_text(text: str) -> None:
    with pytest.raises(HlaParseError) as caught:
        parse_allele(text)
    assert str(caught.value) == (
        "not an HLA allele; write it like A*02:01, A*02, A*02:01P, A*02:01:01G, A*0201 "
        "or a serological antigen such as A2"
    ), "one fixed message: the text may be a patient's"


def test_serotypes_are_mhcgnomes_single_locus_antigens_and_all_of_them() -> None:
    """SEROTYPES is frozen in the code (the contract pattern needs it without loading
    mhcgnomes); this keeps it equal to mhcgnomes' table when the lock moves."""
    import mhcgnomes
    from mhcgnomes import data

    known = set()
    for name in data.serotypes.get("HLA").keys():  # noqa: SIM118 - not a dict
        if not re.fullmatch(r"[A-Z]{1,2}w?[0-9]{1,4}", name):
            continue  # cellular or sub-specificities (A2.1, B27c): not WHO antigens
        parsed = mhcgnomes.parse(name)
        if isinstance(parsed, mhcgnomes.Serotype) and name not in ("Bw4", "Bw6"):
            assert len({a.gene.name for a in parsed.alleles}) == 1, name
            known.add(name)
    assert set(SEROTYPES) == known


# --- cases: the contract and its JSON Schema ---------------------------------------------------

WELL_FORMED = [
    "A*02:01",
    "HLA-A*02:01:01:02L",
    "A*02:01P",
    "A*02:01:01G",
    "A2",
    "HLA-Cw7",
    "A9",
    "A*0201",
    "A*02010101",
    "A*24:09N",
    "DRB1*15:01",
    "DQB1*06:02",
]


@pytest.mark.parametrize("allele", WELL_FORMED)
def test_a_case_accepts_each_laboratory_form_as_written(allele: str) -> None:
    assert make_case(hla_alleles=[allele]).hla_alleles == [allele]


@pytest.mark.parametrize("allele", [*MALFORMED, " A*02:01", "A*02:01\n"])
def test_a_case_refuses_other_forms_at_their_field_path(allele: str) -> None:
    with pytest.raises(ValidationError) as caught:
        make_case(hla_alleles=["A*24:02", allele])
    [error] = caught.value.errors()
    assert error["loc"] == ("hla_alleles", 1)
    assert error["msg"] == f"Value error, {HlaParseError()}"


def test_a_case_lists_at_most_a_hundred_typings_and_the_schema_says_so() -> None:
    many = [f"B*{n:02d}:01" for n in range(10, 10 + MAX_HLA_ALLELES)]
    assert make_case(hla_alleles=many).hla_alleles == many
    with pytest.raises(ValidationError) as caught:
        make_case(hla_alleles=[*many, "A*02:01"])
    [error] = caught.value.errors()
    assert (error["loc"], error["type"]) == (("hla_alleles",), "too_long")
    schema = jsonschema.Draft202012Validator(CASE_SCHEMA)
    assert schema.is_valid({"case_id": "case-hla", "hla_alleles": many})
    assert not schema.is_valid({"case_id": "case-hla", "hla_alleles": [*many, "A*02:01"]})


@pytest.mark.parametrize("allele", ["A*02:01/02:02", "Bw4", "A*0\u0662:01", "A*02:01:01:01:01"])
def test_an_unreadable_allele_is_a_schema_violation_at_intake_named_by_path(allele: str) -> None:
    body = json.dumps({"case_id": "case-hla", "hla_alleles": ["A*02:01", allele]})
    refused = with_body(body)
    assert refused.reason == "schema_violation"
    assert str(refused) == f"data.hla_alleles.1: Value error, {HlaParseError()}"


@pytest.mark.parametrize("allele", [*WELL_FORMED, *MALFORMED, " A*02:01"])
def test_the_case_model_and_its_published_schema_agree_on_each_form(allele: str) -> None:
    """(Not "A*02:01\\n": Python's `$`, which the jsonschema package uses, matches before a
    final newline; ECMA-262's, which JSON Schema names, does not, nor does the model's.)"""
    body = {"case_id": "case-hla", "hla_alleles": [allele]}
    schema_accepts = jsonschema.Draft202012Validator(CASE_SCHEMA).is_valid(body)
    try:
        Case.model_validate(body)
    except ValidationError:
        model_accepts = False
    else:
        model_accepts = True
    assert model_accepts == schema_accepts == (allele in WELL_FORMED)


@given(hla_alleles())
def test_every_generated_form_is_accepted_by_model_schema_and_pattern_alike(text: str) -> None:
    body = {"case_id": "case-hla", "hla_alleles": [text]}
    assert re.fullmatch(HLA_ALLELE_PATTERN, text)
    assert jsonschema.Draft202012Validator(CASE_SCHEMA).is_valid(body)
    assert Case.model_validate(body).hla_alleles == [text]


# --- rules -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("HLA-A*02:01:01:02L", "A*02:01:01:02L"),
        ("A*02:01P", "A*02:01P"),
        ("A*02:01:01G", "A*02:01:01G"),
        ("A2", "A2"),
        ("HLA-A*0201", "A*02:01"),
        ("A*02", "A*02"),
        ("DR15", "DR15"),
    ],
)
def test_a_rule_names_each_laboratory_form_and_keeps_it_canonical(
    written: str, canonical: str
) -> None:
    assert HlaCheck(allele=written).allele == canonical


@pytest.mark.parametrize("allele", ["A0201", "A*2", "A*\u0660\u0662:\u0660\u0661", "Bw4"])
def test_a_rule_with_an_unreadable_allele_says_which_and_how_to_write_one(allele: str) -> None:
    with pytest.raises(ValidationError, match="is not an HLA allele; write it like A\\*02:01"):
        HlaCheck(allele=allele)


@pytest.mark.parametrize("allele", ["A*02:01N", "B*44:02:01:02S", "A*32:11Q"])
def test_a_rule_cannot_restrict_to_what_is_not_proven_on_the_cell(allele: str) -> None:
    with pytest.raises(ValidationError, match="not proven on the cell surface"):
        HlaCheck(allele=allele)


# --- matching what each form proves (real engine) ----------------------------------------------


@pytest.mark.parametrize(
    ("typed", "wanted", "status"),
    [
        # P group: the first field is proven, the second is not
        (["A*02:01P"], "A*02", "met"),
        (["A*02:01P"], "A*02:01", "unknown"),
        (["A*02:01P"], "A*24", "not_met"),
        (["A*02:01P"], "A*02:01P", "met"),
        (["A*02:01:01"], "A*02:01P", "met"),
        (["A*02:05"], "A*02:01P", "unknown"),
        (["A*24:02"], "A*02:01P", "not_met"),
        # P groups are disjoint and named after their lowest-numbered allele
        (["A*02:01"], "A*02:05P", "not_met"),
        (["A*02:01P"], "A*02:05P", "not_met"),
        (["A*02:01:01G"], "A*02:05P", "not_met"),
        (["A*02:09"], "A*02:05P", "unknown"),
        (["A*02:101"], "A*02:05P", "unknown"),
        (["A*02:05:01G"], "A*02:05P", "unknown"),
        (["A*02:05Q"], "A*02:05P", "unknown"),
        (["A*02"], "A*02:05P", "unknown"),
        (["A2"], "A*02:05P", "unknown"),
        (["A*02:05N", "A*24:02"], "A*02:05P", "not_met"),
        (["A*02:05:01:01"], "A*02:05P", "met"),
        (["A*02:01", "A*02:05P"], "A*02:05P", "met"),
        (["A*02:01:01:02"], "A*02:01:01G", "met"),
        (["A*02:01:01G"], "A*02:01:01G", "unknown"),
        (["A*02:01"], "A*02:01:01G", "unknown"),
        (["A*03:01"], "A*02:01:01G", "not_met"),
        # G group: holds null alleles, so not even A*02 is proven expressed
        (["A*02:01:01G"], "A*02", "unknown"),
        (["A*02:01:01G"], "A*02:01", "unknown"),
        (["A*02:01:01G"], "A*24", "not_met"),
        (["A*02:01:01G", "A*24:02"], "A*24", "met"),
        # serology: A2 is A*02, the broad A9 only says HLA-A was typed
        (["A2"], "A*02", "met"),
        (["A2"], "A*02:01", "unknown"),
        (["A2", "A1"], "A*24", "not_met"),
        (["A9"], "A*24", "unknown"),
        (["A9"], "A*24:02", "unknown"),
        (["A2"], "A2", "met"),
        (["A*02:01"], "A2", "met"),
        (["A*02"], "A2", "unknown"),
        (["A*24:02"], "A2", "not_met"),
        (["A24"], "A9", "unknown"),
        # old style and prefixes are read as the new style
        (["A*0201"], "A*02:01", "met"),
        (["HLA-A*02:01:01:02L"], "A*02:01", "met"),
        (["A*02:01"], "A*0201", "met"),
        # uncertain expression leaves a restriction open, a null closes nothing
        (["A*02:01:01:02Q"], "A*02:01", "unknown"),
        (["A*02:01N", "A*24:02"], "A*02", "not_met"),
        (["A*02:01N"], "A*02:01", "not_met"),
    ],
)
def test_a_typing_meets_no_more_than_it_proves(typed: list[str], wanted: str, status: str) -> None:
    assert status_of({"hla": {"allele": wanted}}, make_case(hla_alleles=typed)) == status


# --- properties ---------------------------------------------------------------------------------

CRITERIA = [
    "A*02",
    "A*02:01",
    "A*02:01:01",
    "A*02:01:01:01",
    "A*02:06",
    "A*24",
    "A*24:02",
    "A*24:02:01:02L",
    "A*02:01P",
    "A*02:05P",
    "A2",
    "A9",
    "A24",
    "B*07",
]
"""Restrictions the property tests hold every generated typing against."""


@pytest.fixture(scope="module")
def hla_checks() -> Iterator[Checks]:
    with compiled([node({"hla": {"allele": c}}) for c in CRITERIA]) as checks:
        yield checks


def statuses(checks: Checks, typed: list[str]) -> dict[str, str]:
    case_fact = fact(make_case(hla_alleles=typed))
    return {c: checks.status(i, case_fact) for i, c in enumerate(CRITERIA)}


def _molecular(allele: HlaAllele) -> bool:
    return not allele.serotype and not allele.group


def _proves(allele: HlaAllele) -> tuple[tuple[str, ...], bool]:
    """The fields a typing proves and whether it proves expression, as the WHO nomenclature
    says (written out here, not read from HlaAllele): a P or G group its first field; a G group
    and S C A Q N alleles no expression."""
    fields = allele.fields[:1] if allele.group else allele.fields
    return fields, allele.group != "G" and allele.suffix in ("", "L")


@given(hla_alleles())
def test_a_typing_reads_back_from_its_canonical_form(text: str) -> None:
    allele = parse_allele(text)
    assert parse_allele(str(allele)) == allele


@given(text=hla_alleles(near="A*02:01:01:01"))
def test_an_allele_meets_every_coarser_restriction_and_no_finer_one(
    text: str, hla_checks: Checks
) -> None:
    typed = parse_allele(text)
    proven, expressed = _proves(typed)
    found = statuses(hla_checks, [text])
    for criterion, status in found.items():
        wanted = parse_allele(criterion)
        if not _molecular(wanted) or wanted.locus != typed.locus:
            continue
        implied = proven[: len(wanted.fields)] == wanted.fields
        if implied and expressed and len(proven) >= len(wanted.fields):
            assert status == "met", (criterion, status)
        if len(proven) < len(wanted.fields) or not implied or not expressed:
            assert status != "met", (criterion, status)


@given(typed=st.lists(hla_alleles(near="A*02:01:01:01"), max_size=3))
def test_null_alleles_never_satisfy_and_never_make_a_restriction_unknown(
    typed: list[str], hla_checks: Checks
) -> None:
    nulls = [str(HlaAllele(a.locus, a.fields, "N")) for a in map(parse_allele, typed) if a.fields]
    assert "met" not in statuses(hla_checks, nulls).values()
    with_nulls = statuses(hla_checks, typed + nulls)
    for criterion, status in statuses(hla_checks, typed).items():
        if status != "unknown":  # a null may still settle unknown: the locus is now typed
            assert with_nulls[criterion] == status, criterion


@given(text=hla_alleles(near="A*02:01:01:01"))
def test_more_specific_typing_never_decides_less(text: str, hla_checks: Checks) -> None:
    """Typing one allele at a finer resolution only turns unknown into met or not met."""
    allele = parse_allele(text)
    if not _molecular(allele) or len(allele.fields) < 2:
        return
    coarser = str(HlaAllele(allele.locus, allele.fields[:-1], allele.suffix))
    fine, coarse = statuses(hla_checks, [text]), statuses(hla_checks, [coarser])
    for criterion, status in coarse.items():
        if status != "unknown":
            assert fine[criterion] == status, (criterion, coarser, text)


def _in_p_group(allele: HlaAllele, name: tuple[str, str]) -> str:
    """met / not_met / unknown of one typing for the P group `A*<name>P`, from the WHO rules
    alone: members share the first field; a group is named after its lowest-numbered allele,
    holds no null allele, and P groups are disjoint."""
    fields, expressed = _proves(allele)
    if allele.locus != "A":
        return "unknown"  # HLA-A untyped
    if allele.suffix == "N" or (fields and fields[0] != name[0]):
        return "not_met"
    if allele.group == "P":
        return "met" if allele.fields == name else "not_met"
    if len(allele.fields) < 2 or allele.serotype:
        return "unknown"
    second = int(allele.fields[1])
    if allele.group != "G" and allele.fields[:2] == name:
        return "met" if expressed else "unknown"
    return "not_met" if second < int(name[1]) else "unknown"


@given(text=hla_alleles(near="A*02:05:01:01"))
def test_a_p_group_is_met_by_its_members_and_refused_only_to_certain_non_members(
    text: str, hla_checks: Checks
) -> None:
    found = statuses(hla_checks, [text])["A*02:05P"]
    assert found == _in_p_group(parse_allele(text), ("02", "05"))
