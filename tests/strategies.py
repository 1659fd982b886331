"""Hypothesis strategies shared by the property tests.

Cases come from the same generator the synthetic data uses (`tests.builders.random_case`), fed
by a Random whose every draw hypothesis makes: failures shrink towards fewer and simpler
choices and replay from the example database (.hypothesis/examples).
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from rarematch.common.contracts import Case
from rarematch.common.hla import HLA_LOCI, SEROTYPES, parse_allele
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from tests.builders import random_case

__all__ = ["cases", "check_trees", "hla_alleles", "oncotree_codes"]


def cases(case_id: str = "case-prop") -> st.SearchStrategy[Case]:
    """Valid cases, each section absent, empty or filled (see `random_case_dict`)."""
    return st.randoms(use_true_random=False).map(lambda rng: random_case(rng, case_id=case_id))


def check_trees(
    leaves: list[dict[str, Any]], max_leaves: int = 6
) -> st.SearchStrategy[dict[str, Any]]:
    """Criteria trees as rule files write them: `all`, `any` and `not` over `leaves`."""

    def extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
        several = st.lists(children, min_size=2, max_size=3)
        return st.one_of(
            children.map(lambda child: {"not": child}),
            several.map(lambda items: {"all": items}),
            several.map(lambda items: {"any": items}),
        )

    return st.recursive(st.sampled_from(leaves), extend, max_leaves=max_leaves)


def oncotree_codes() -> st.SearchStrategy[str]:
    """Every code of the bundled OncoTree."""
    return st.sampled_from(sorted(bundled_oncotree().parents))


def hla_alleles(near: str | None = None) -> st.SearchStrategy[str]:
    """HLA typings in every form a case or rule may write (see `rarematch.common.hla`):
    1-4 fields, expression suffixes, P and G groups, old style, serological antigens, with and
    without `HLA-`. With `near` (an allele such as A*02:01:01:01) loci and fields are mostly
    its own, so typings and restrictions share prefixes often."""
    own = parse_allele(near) if near else None

    @st.composite
    def molecular(draw: st.DrawFn) -> str:
        locus = draw(st.sampled_from([own.locus] * 3 + ["B"]) if own else st.sampled_from(HLA_LOCI))
        count = draw(st.integers(1, 4))
        fields = []
        for index in range(count):
            other = st.integers(1, 99).map("{:02d}".format) | st.integers(100, 999).map(str)
            if own and index < len(own.fields):
                other = st.just(own.fields[index]) | st.just(own.fields[index]) | other
            fields.append(draw(other))
        form = draw(st.sampled_from(["plain", "suffix", "P", "G", "old"]))
        if form == "P" and count >= 2:
            return f"{locus}*{fields[0]}:{fields[1]}P"
        if form == "G" and count >= 3:
            return f"{locus}*{':'.join(fields[:3])}G"
        if form == "old" and count >= 2 and all(len(f) == 2 for f in fields):
            return f"{locus}*{''.join(fields)}{draw(st.sampled_from(['', 'N']))}"
        suffix = draw(st.sampled_from("NLSCAQ")) if form == "suffix" else ""
        return f"{locus}*{':'.join(fields)}{suffix}"

    serological = st.sampled_from(SEROTYPES)
    if own:
        serological = st.sampled_from([s for s in SEROTYPES if s.startswith(own.locus)])
    typing = molecular() | serological
    return st.tuples(st.sampled_from(["", "HLA-"]), typing).map("".join)
