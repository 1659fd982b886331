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
- `hla_single`: non-null typings that prove exactly one field and are no group (`A*02`, `A2`);
- `hla_second`: per first field, the highest second field named by a non-null typing other
  than a P group (`{"A_02": 6}` for `A*02:06`, `A*02:01:01G`): P groups are named after their
  lowest-numbered allele, so an allele numbered below a group's name is not in it;
- `hla_loci`: every locus typed, null alleles included (a null allele at A rules out A*02 only
  when nothing else at A could be it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rarematch.common.hla import HlaAllele, HlaParseError, parse_allele, serotype_alleles
from rarematch.eligibility.domain.conditions import Condition, any_of, gte, has, lacks, lt

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
    present = [a for a in typings if a.expression != "null"]
    second: dict[str, int] = {}
    for a in present:
        if len(a.fields) >= 2 and a.group != "P" and not a.serotype:
            first = HlaAllele(a.locus, a.fields[:1]).key
            second[first] = max(second.get(first, 0), int(a.fields[1]))
    return {
        "hla": {p.key: True for a in expressed for p in a.prefixes}
        | {a.key: True for a in expressed},
        "hla_typed": {a.resolution_key: True for a in present},
        "hla_maybe": {p.key: True for a in uncertain for p in a.prefixes},
        "hla_single": {
            a.resolution_key: True for a in present if len(a.resolution) == 1 and not a.group
        },
        "hla_second": second,
        "hla_loci": {a.locus: True for a in typings},
    }


@dataclass(frozen=True)
class Restriction:
    """What meets one HLA criterion and what leaves it undecided, over the fact fields.

    Met: any `proving` path exists. Otherwise unknown when the locus is untyped or any
    `undecided` condition holds, and not met when the locus is typed and none does (each
    undecided condition comes with its negation)."""

    locus: str
    proving: tuple[str, ...]
    undecided: tuple[tuple[Condition, Condition], ...]


def _exists(path: str) -> tuple[Condition, Condition]:
    return has(path), lacks(path)


def restriction(wanted: HlaAllele) -> Restriction:
    """The criterion `wanted` (as HlaCheck normalised it) over the fields of `case_fields`.

    - An allele (`A*02:01`) is met by any expressed typing at least that specific; a coarser
      typing (`A*02`, `A2`, `A*02:01P`) or an uncertain one at its resolution leaves it unknown.
    - A P group (`A*02:01P`) is met by that group or an expressed allele of the two fields it
      is named after (all of them are members). Another typing of the same first field may be
      a member when it proves one field only (`A*02`, `A2`) or names a second field above the
      group's (`A*02:09`, `A*02:09:01G`); below it (`A*02:01` for `A*02:05P`) or another P
      group it is not, as P groups are disjoint and named after their lowest-numbered allele.
    - A G group (`A*02:01:01G`) is met by an expressed allele of its three fields; any other
      typing of the same first field may be a member (no membership table is held).
    - A serological antigen (`A2`) is met by that antigen or by an allele the dictionary assigns
      to it; another typing of one of those first fields is unknown.
    """
    locus = wanted.locus
    coarse = [_exists(f"hla_typed.{locus}")]
    if wanted.serotype:
        members = serotype_alleles(wanted.serotype)
        firsts = sorted({HlaAllele(locus, a.fields[:1]).key for a in members})
        proving = [f"hla.{wanted.key}", *(f"hla.{a.key}" for a in members)]
        undecided = [
            *coarse,
            *(_exists(f"hla.{k}") for k in firsts),
            *(_exists(f"hla_maybe.{k}") for k in firsts),
        ]
    elif wanted.group == "P":
        first = HlaAllele(locus, wanted.fields[:1]).key
        named = int(wanted.fields[1])
        higher = f"hla_second.{first}"
        proving = [f"hla.{wanted.key}", f"hla.{HlaAllele(locus, wanted.fields).key}"]
        undecided = [
            *coarse,
            _exists(f"hla_single.{first}"),
            (gte(higher, named), any_of(lacks(higher), lt(higher, named))),
        ]
    elif wanted.group == "G":
        first = HlaAllele(locus, wanted.fields[:1]).key
        proving = [f"hla.{wanted.key}", f"hla.{HlaAllele(locus, wanted.fields).key}"]
        undecided = [*coarse, _exists(f"hla.{first}"), _exists(f"hla_maybe.{first}")]
    else:
        proving = [f"hla.{wanted.key}"]
        undecided = [
            *coarse,
            *(_exists(f"hla_typed.{p.key}") for p in wanted.prefixes[:-1]),
            _exists(f"hla_maybe.{wanted.key}"),
        ]
    return Restriction(locus, tuple(dict.fromkeys(proving)), tuple(undecided))
