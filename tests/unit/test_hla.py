"""HLA allele parsing and resolution: A*02:01 implies A*02, never the reverse."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rarematch.eligibility.domain.criteria import HlaCheck
from rarematch.eligibility.domain.hla import HlaAllele, parse_allele


@pytest.mark.parametrize(
    ("text", "locus", "fields"),
    [
        ("A*02", "A", ("02",)),
        ("A*02:01", "A", ("02", "01")),
        ("HLA-A*02:01", "A", ("02", "01")),
        ("A*02:01:01:01", "A", ("02", "01", "01", "01")),
        ("B*07:02", "B", ("07", "02")),
        ("DRB1*15:01", "DRB1", ("15", "01")),
        ("A*02:101", "A", ("02", "101")),
        (" a*02:01 ", "A", ("02", "01")),
    ],
)
def test_parse_locus_and_fields(text: str, locus: str, fields: tuple[str, ...]) -> None:
    allele = parse_allele(text)
    assert (allele.locus, allele.fields) == (locus, fields)


@pytest.mark.parametrize(
    "text", ["A02:01", "A*2", "A*02:1", "A*02:01:01:01:01", "*02:01", "A*", "A*02::01", ""]
)
def test_malformed_alleles_say_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match=r"write it like A\*02:01 or A\*02"):
        parse_allele(text)


def test_str_is_the_canonical_form_without_prefix() -> None:
    assert str(parse_allele("HLA-A*02:01:01")) == "A*02:01:01"


def test_prefixes_are_every_coarser_resolution_including_itself() -> None:
    assert [str(p) for p in parse_allele("A*02:01:01").prefixes] == [
        "A*02",
        "A*02:01",
        "A*02:01:01",
    ]
    assert [str(p) for p in parse_allele("A*02").prefixes] == ["A*02"]


def test_keys_are_engine_safe_and_distinct_across_resolutions() -> None:
    keys = {parse_allele(a).key for a in ("A*02", "A*02:01", "A*02:10", "A*02:101", "A*20:10")}
    assert keys == {"A_02", "A_02_01", "A_02_10", "A_02_101", "A_20_10"}
    assert all(k.replace("_", "").isalnum() for k in keys)


def test_a_0206_does_not_have_a_0201_among_its_prefixes() -> None:
    prefixes = parse_allele("A*02:06").prefixes
    assert HlaAllele("A", ("02",)) in prefixes
    assert HlaAllele("A", ("02", "01")) not in prefixes


def test_hla_check_normalises_and_validates_the_protocol_allele() -> None:
    assert HlaCheck(allele="HLA-A*02:01").allele == "A*02:01"
    with pytest.raises(ValidationError, match="is not an HLA allele"):
        HlaCheck(allele="A0201")
