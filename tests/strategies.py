"""Hypothesis strategies shared by the property tests.

Cases come from the same generator the synthetic data uses (`tests.builders.random_case`), fed
by a Random whose every draw hypothesis makes: failures shrink towards fewer and simpler
choices and replay from the example database (.hypothesis/examples).
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from rarematch.common.contracts import Case
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from tests.builders import random_case

__all__ = ["cases", "check_trees", "oncotree_codes"]


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
