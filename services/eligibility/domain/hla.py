"""HLA restrictions, resolution aware: `A*02:01` satisfies `A*02:01` and `A*02`, not the reverse.

Parsing is `rarematch.common.hla` (one parser for cases and rules); what a typing proves
(`resolution`, `expression`) is decided there. Here is what a case's typings are worth for one
restriction, as fact fields the engine tests for existence:

- `hla`: every resolution an *expressed* typing proves (`A_02`, `A_02_01` for `A*02:01`), and
  the typing itself (`A_02_01P`, `s_A2`), so a criterion naming a group or antigen is met by it;
- `hla_typed`: the resolution each non-null typing proves (`A_02` for `A2`, `A` for `A9`), so a
  coarser typing than a criterion names leaves it unknown, never not met;
- `hla_maybe`: every resolution an uncertain-expression typing (G group, `S` `C` `A` `Q`) proves:
  it can neither meet a criterion nor rule it out;
- `hla_loci`: every locus typed, null alleles included (a null allele at A rules out A*02 only
  when nothing else at A could be it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rarematch.common.hla import HlaAllele, HlaParseError, parse_allele, serotype_alleles

__all__ = [
    "HlaAllele",
    "HlaParseError",
    "Restriction",
    "case_fields",
    "parse_allele",
    "restriction",
]


def case_fields(alleles: Iterable[HlaAllele]) -> dict[str, Any]:
    """The fact fields of a case's HLA typing (see the module docstring)."""
    typings = list(alleles)
    expressed = [a for a in typings if a.expression == "expressed"]
    uncertain = [a for a in typings if a.expression == "uncertain"]
    return {
        "hla": {p.key: True for a in expressed for p in a.prefixes}
        | {a.key: True for a in expressed},
        "hla_typed": {a.resolution_key: True for a in typings if a.expression != "null"},
        "hla_maybe": {p.key: True for a in uncertain for p in a.prefixes},
        "hla_loci": {a.locus: True for a in typings},
    }


@dataclass(frozen=True)
class Restriction:
    """What meets one HLA criterion and what leaves it undecided, as fact paths.

    Met: any `proving` path exists. Otherwise unknown when the locus is untyped or any
    `undecided` path exists, and not met when the locus is typed and none does."""

    locus: str
    proving: tuple[str, ...]
    undecided: tuple[str, ...]


def restriction(wanted: HlaAllele) -> Restriction:
    """The criterion `wanted` (as HlaCheck normalised it) over the fields of `case_fields`.

    - An allele (`A*02:01`) is met by any expressed typing at least that specific; a coarser
      typing (`A*02`, `A2`, `A*02:01P`) or an uncertain one at its resolution leaves it unknown.
    - A P or G group (`A*02:01P`, `A*02:01:01G`) is met by that group or by an expressed allele
      of the fields it is named after (all of them are members); any other typing with the
      same first field may be a member too (no membership table is held), so it is unknown.
    - A serological antigen (`A2`) is met by that antigen or by an allele the dictionary assigns
      to it; another typing of one of those first fields is unknown.
    """
    locus = wanted.locus
    coarse = [f"hla_typed.{locus}"]
    if wanted.serotype:
        members = serotype_alleles(wanted.serotype)
        firsts = sorted({HlaAllele(locus, a.fields[:1]).key for a in members})
        proving = [f"hla.{wanted.key}", *(f"hla.{a.key}" for a in members)]
        undecided = [*coarse, *(f"hla.{k}" for k in firsts), *(f"hla_maybe.{k}" for k in firsts)]
    elif wanted.group:
        named = HlaAllele(locus, wanted.fields).key
        first = HlaAllele(locus, wanted.fields[:1]).key
        proving = [f"hla.{wanted.key}", f"hla.{named}"]
        undecided = [*coarse, f"hla.{first}", f"hla_maybe.{first}"]
    else:
        coarser = [f"hla_typed.{p.key}" for p in wanted.prefixes[:-1]]
        proving = [f"hla.{wanted.key}"]
        undecided = [*coarse, *coarser, f"hla_maybe.{wanted.key}"]
    return Restriction(locus, tuple(dict.fromkeys(proving)), tuple(undecided))
