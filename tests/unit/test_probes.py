"""Negations over probes (eligibility.domain.probes), checked against the engine itself.

For every condition and every fact hypothesis draws (fields present or absent, numbers at,
beside and beyond each bound, nested fields included), the negated rule fires on the gate fact
exactly when the original rule does not fire on the case fact.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


def _near(*bounds: float) -> st.SearchStrategy[float]:
    """Numbers at, just beside and far from each bound: where a negation goes wrong."""
    edges = [b + d for b in bounds for d in (-1, -0.01, 0, 0.01, 1)]
    return st.one_of(st.sampled_from(edges), st.integers(-100, 100), st.floats(-1e6, 1e6))


def _sometimes_empty(
    fields: dict[str, st.SearchStrategy[Any]],
) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


FACT_VALUES = st.fixed_dictionaries(
    {},
    optional={
        "age": _near(12, 18),
        "tmb": _near(10),
        "organ": _sometimes_empty({"alt": _near(0.5, 2.5)}),
        "perf": _sometimes_empty({"ECOG": _near(1), "Karnofsky": _near(60)}),
        "dx_status": st.sampled_from(["relapsed", "refractory", "newly_diagnosed"]),
        "cns": st.booleans(),
        "sex": st.sampled_from(["female", "male", "other"]),
        "dx": _sometimes_empty({"SARCOMA": st.just(True), "EWS": st.just(True)}),
        "hla": _sometimes_empty({"A_02": st.just(True)}),
    },
)


@pytest.fixture(scope="module")
def engines() -> Iterator[tuple[RuleEngine, dict[str, Probes]]]:
    """Every condition and its negation compiled once; examples only evaluate."""
    negations = {name: negate(condition) for name, condition in CONDITIONS.items()}
    assert all(negations.values())
    rulesets = {f"original-{name}": {"r": c} for name, c in CONDITIONS.items()}
    rulesets |= {f"negated-{name}": {"r": n[0]} for name, n in negations.items() if n}
    with RuleEngine(rulesets) as engine:
        yield engine, {name: n[1] for name, n in negations.items() if n}


@given(fact=FACT_VALUES)
def test_the_negation_holds_exactly_when_the_condition_does_not(
    fact: dict[str, Any], engines: tuple[RuleEngine, dict[str, Probes]]
) -> None:
    engine, probes = engines
    for name in CONDITIONS:
        holds = engine.fired(f"original-{name}", fact) == ["r"]
        gate_fact = probes[name].gate_fact(fact)
        negation_holds = engine.fired(f"negated-{name}", gate_fact) == ["r"]
        assert negation_holds is not holds, (name, gate_fact)


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


def test_every_condition_is_reachable_both_ways() -> None:
    """Hand-picked facts reach both outcomes for every condition: the generated ones can too."""
    with RuleEngine({"c": dict(CONDITIONS)}) as engine:
        fired = [set(engine.fired("c", fact)) for fact in FACTS]
    for name in CONDITIONS:
        outcomes = {name in names for names in fired}
        assert outcomes == {True, False}, name
