"""Negations over probes (eligibility.domain.probes), checked against the engine itself.

For every condition and every fact below, the negated rule fires on the gate fact exactly
when the original rule does not fire on the case fact: present, absent, at and beyond each
bound, nested fields included.
"""

from __future__ import annotations

from typing import Any

import pytest

from rarematch.eligibility.domain.conditions import (
    Condition,
    all_of,
    any_of,
    eq,
    gt,
    gte,
    has,
    lacks,
    lt,
    lte,
    neq,
)
from rarematch.eligibility.domain.engine import RuleEngine
from rarematch.eligibility.domain.probes import ABOVE_EVERY_BOUND, ABSENT, Probes, negate

CONDITIONS: dict[str, Condition] = {
    "lt": lt("age", 18),
    "lte": lte("organ.alt", 2.5),
    "gt": gt("perf.ECOG", 1),
    "gte": gte("tmb", 10),
    "range_outside": any_of(lt("organ.alt", 0.5), gt("organ.alt", 2.5)),
    "eq_string": eq("dx_status", "relapsed"),
    "eq_bool": eq("cns", True),
    "eq_false": eq("cns", False),
    "not_one_of": all_of(has("sex"), neq("sex", "male"), neq("sex", "female")),
    "exists": has("dx.SARCOMA"),
    "absent": lacks("hla.A_02"),
    "both": all_of(gte("age", 18), eq("cns", False)),
    "either": any_of(lt("age", 12), eq("dx_status", "refractory"), has("dx.SARCOMA")),
}

FACTS: list[dict[str, Any]] = [
    {},
    {"age": 17, "tmb": 9.9, "organ": {"alt": 0.4}, "perf": {"ECOG": 2}},
    {"age": 18, "tmb": 10, "organ": {"alt": 2.5}, "perf": {"ECOG": 1}},
    {"age": 40, "tmb": 30, "organ": {"alt": 3.0}, "perf": {"Karnofsky": 60}},
    {"organ": {}, "perf": {}},
    {"dx_status": "relapsed", "cns": True, "sex": "male", "dx": {"SARCOMA": True}},
    {"age": 30, "dx_status": "refractory", "cns": False, "sex": "other", "hla": {"A_02": True}},
    {"dx_status": "newly_diagnosed", "sex": "female", "dx": {"EWS": True}},
]


@pytest.mark.parametrize("name", CONDITIONS)
def test_the_negation_holds_exactly_when_the_condition_does_not(name: str) -> None:
    condition = CONDITIONS[name]
    negation = negate(condition)
    assert negation is not None
    negated, probes = negation
    with RuleEngine({"original": {"r": condition}, "negated": {"r": negated}}) as engine:
        for fact in FACTS:
            holds = engine.fired("original", fact) == ["r"]
            negation_holds = engine.fired("negated", probes.gate_fact(fact)) == ["r"]
            assert negation_holds is not holds, (name, fact, probes.gate_fact(fact))


def test_negations_of_comparisons_take_no_alternatives() -> None:
    """The point of probes: "not out of range" is one conjunction, not met-or-unknown."""
    negation = negate(CONDITIONS["range_outside"])
    assert negation is not None
    assert negation[0] == {
        "$and": [
            {"$gte": {"probe_high.organ_2Ealt": 0.5}},
            {"$lte": {"probe_low.organ_2Ealt": 2.5}},
        ]
    }


@pytest.mark.parametrize(
    "condition",
    [
        lt("age", ABOVE_EVERY_BOUND),
        gt("age", -ABOVE_EVERY_BOUND * 2),
        eq("dx_status", ABSENT),
        {"$mt": {"name": "a.*"}},
        any_of(lt("age", 18), {"$iany": {"items": {"$i": 1}}}),
    ],
    ids=["bound-at-stand-in", "bound-beyond-stand-in", "value-is-stand-in", "regex", "nested"],
)
def test_what_the_probes_cannot_stand_in_for_is_not_negated(condition: Condition) -> None:
    assert negate(condition) is None


def test_probes_are_added_only_for_fields_the_negations_read() -> None:
    probes = Probes()
    assert probes.gate_fact({"age": 3}) == {"age": 3}
    for condition in (CONDITIONS["lt"], CONDITIONS["gt"], CONDITIONS["eq_string"]):
        negation = negate(condition)
        assert negation is not None
        probes.add(negation[1])
    assert probes.gate_fact({"age": 3, "perf": {"ECOG": 0}}) == {
        "age": 3,
        "perf": {"ECOG": 0},
        "probe_high": {"age": 3},
        "probe_low": {"perf_2EECOG": 0},
        "probe_equal": {"dx_5Fstatus": ABSENT},
    }


def test_every_fact_and_condition_pair_is_exercised() -> None:
    """The facts above reach both outcomes for every condition (not a vacuous check)."""
    with RuleEngine({"c": dict(CONDITIONS)}) as engine:
        fired = [set(engine.fired("c", fact)) for fact in FACTS]
    for name in CONDITIONS:
        outcomes = {name in names for names in fired}
        assert outcomes == {True, False}, name
