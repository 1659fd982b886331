"""RuleEngine: the durable-rules wrapper that says which named rules a fact fires."""

from __future__ import annotations

import pytest

from rarematch.eligibility.domain.conditions import (
    all_of,
    any_of,
    gt,
    has,
    lacks,
    lte,
    operator_count,
)
from rarematch.eligibility.domain.engine import (
    MAX_OPERATORS_PER_CONDITION,
    MAX_RULES_PER_RULESET,
    EngineError,
    RuleEngine,
)
from tests.unit.engine_harness import run_isolated


def test_fired_names_the_rules_whose_condition_holds() -> None:
    rules = {
        "young": lte("age_months", 216),
        "old": gt("age_months", 216),
        "any_age": has("age_months"),
    }
    with RuleEngine({"r": rules}) as engine:
        assert sorted(engine.fired("r", {"age_months": 10})) == ["any_age", "young"]
        assert sorted(engine.fired("r", {"age_months": 300})) == ["any_age", "old"]
        assert engine.fired("r", {"sex": "female"}) == []


def test_each_call_is_a_fresh_session() -> None:
    with RuleEngine({"r": {"seen": has("a"), "unseen": lacks("a")}}) as engine:
        assert engine.fired("r", {"a": 1}) == ["seen"]
        assert engine.fired("r", {}) == ["unseen"]
        assert engine.fired("r", {"a": 1}) == ["seen"]


def test_many_evaluations_do_not_exhaust_sessions() -> None:
    with RuleEngine({"r": {"seen": has("a")}}) as engine:
        for i in range(2_000):
            assert engine.fired("r", {"a": i}) == ["seen"]


def test_rulesets_are_independent_and_engines_may_reuse_names() -> None:
    with (
        RuleEngine({"r": {"x": has("a")}}) as first,
        RuleEngine({"r": {"y": has("b")}}) as second,
    ):
        fact = {"a": 1, "b": 1}
        assert first.fired("r", fact) == ["x"]
        assert second.fired("r", fact) == ["y"]


@pytest.mark.parametrize("condition", [{"$no_such_operator": {"a": 1}}, {"$and": "not a list"}])
def test_malformed_ruleset_is_refused(condition: dict[str, object]) -> None:
    with pytest.raises(EngineError, match="refused ruleset 'bad'"):
        RuleEngine({"bad": {"r": condition}})


def test_unknown_ruleset_is_a_key_error() -> None:
    with RuleEngine({"r": {"k": has("a")}}) as engine, pytest.raises(KeyError):
        engine.fired("other", {"a": 1})


def test_a_rule_fires_once_even_when_several_or_branches_hold() -> None:
    rules = {"any": any_of(has("hla.A_02_01"), has("hla.A_02_06"))}
    with RuleEngine({"r": rules}) as engine:
        assert engine.fired("r", {"hla": {"A_02_01": True, "A_02_06": True}}) == ["any"]


def test_a_rule_of_only_not_exists_fires_only_when_the_field_is_absent() -> None:
    """durable-rules fires a bare $nex rule for every fact; RuleEngine guards it with a marker."""
    rules = {"unknown": lacks("age_months"), "young": lte("age_months", 30)}
    with RuleEngine({"r": rules}) as engine:
        assert engine.fired("r", {"age_months": 3}) == ["young"]
        assert engine.fired("r", {}) == ["unknown"]


def test_the_sentinel_rule_name_is_reserved() -> None:
    with pytest.raises(EngineError, match="reserved"):
        RuleEngine({"r": {"$asserted": has("a")}})


def test_a_fact_that_fires_nothing_returns_an_empty_list() -> None:
    """Regression: delete_state on a session no rule matched freed uninitialised memory."""
    result = run_isolated(
        """
        from rarematch.eligibility.domain.conditions import gt, lte
        from rarematch.eligibility.domain.engine import RuleEngine
        rules = {"met": lte("age_months", 30), "not_met": gt("age_months", 30)}
        with RuleEngine({"r": rules}) as engine:
            for _ in range(3):
                print(engine.fired("r", {"x": 1}))
        """
    )
    assert (result.returncode, result.stdout.split()) == (0, ["[]"] * 3), result.stderr[-400:]


def test_a_ruleset_too_large_for_the_engine_is_refused_before_it_reaches_it() -> None:
    rules = {f"r{n}": {"$ex": {"a": 1}} for n in range(MAX_RULES_PER_RULESET + 1)}
    with pytest.raises(EngineError, match="rules in one ruleset"):
        RuleEngine({"big": rules})


def _nested(operators: int) -> dict[str, object]:
    """A condition with exactly `operators` `$and`/`$or` nodes: an `$or` of two-term `$and`s."""
    return any_of(*({"$and": [has(f"a{n}"), has(f"b{n}")]} for n in range(operators - 1)))


def test_operator_count_counts_and_or_nodes() -> None:
    assert operator_count(has("a")) == 0
    assert operator_count(any_of(has("a"), lacks("b"))) == 1
    assert operator_count(_nested(14)) == 14


def test_the_operator_bound_is_where_durable_rules_itself_stops() -> None:
    """At the bound the engine accepts the rule; one more and we refuse it with a reason,
    where durable-rules would only say "error code: 113"."""
    with RuleEngine({"at-bound": {"r": _nested(MAX_OPERATORS_PER_CONDITION)}}) as engine:
        assert engine.fired("at-bound", {"a0": 1, "b0": 1}) == ["r"]
    with pytest.raises(EngineError, match="split the criterion"):
        RuleEngine({"over": {"r": _nested(MAX_OPERATORS_PER_CONDITION + 1)}})
    # a conjunction joins the guard's own node, so it may have one more
    conjunction = all_of(*(any_of(has(f"a{n}"), has(f"b{n}")) for n in range(14)))
    assert operator_count(conjunction) == MAX_OPERATORS_PER_CONDITION + 1
    with RuleEngine({"conjunction": {"r": conjunction}}) as engine:
        assert engine.fired("conjunction", {f"a{n}": 1 for n in range(14)}) == ["r"]


def test_a_fact_the_engine_cannot_read_is_an_engine_error_naming_the_ruleset() -> None:
    """durable-rules reads at most about 250 properties per fact (error 302); the session it
    leaves behind must not hide that error behind one about deleting it."""
    many = {f"p{n}": n for n in range(300)}
    with RuleEngine({"r": {"big": gt("x", 1), "many": has("many")}}) as engine:
        for _ in range(1100):  # and no session is left behind
            with pytest.raises(EngineError, match=r"failed on 'r'.*302"):
                engine.fired("r", {"x": 2, "many": many})
        assert engine.fired("r", {"x": 2}) == ["big"]


@pytest.mark.parametrize("value", [1e-05, -2.5e-07, 1e16, 3.5e20])
def test_numbers_json_writes_with_an_exponent_are_still_read(value: float) -> None:
    """durable-rules cannot parse 1e-05 or 1e+16 (error 204); the engine writes them out."""
    rules = {"above": gt("x", value / 2) if value > 0 else gt("x", value * 2)}
    with RuleEngine({"r": rules}) as engine:
        assert engine.fired("r", {"x": value}) == ["above"]
        assert engine.fired("r", {"x": value, "name": "p.1e5"}) == ["above"]


def test_a_refused_fact_is_reported_per_ruleset_by_fired_or_refused() -> None:
    many = {f"p{n}": n for n in range(300)}  # more properties than durable-rules reads
    rulesets = {"one": {"yes": has("a")}, "two": {"many": has("many")}}
    with RuleEngine(rulesets) as engine:
        assert engine.fired_or_refused(["one", "two"], {"a": 1}) == {"one": ["yes"], "two": []}
        refused = engine.fired_or_refused(["one", "two"], {"a": 1, "many": many})
        assert all(isinstance(result, EngineError) for result in refused.values())
        with pytest.raises(EngineError, match="302"):
            engine.fired_in(["one", "two"], {"a": 1, "many": many})


def test_properties_no_rule_reads_are_left_out_of_the_fact() -> None:
    """So they neither count towards the engine's limit nor change a verdict."""
    unread = {f"p{n}": n for n in range(300)}
    rules = {"typed": has("germline_tested.BRCA1"), "untyped": lacks("germline_tested.TP53")}
    with RuleEngine({"r": rules}) as engine:
        fact = {"germline_tested": {"BRCA1": True, **unread}, **unread}
        assert sorted(engine.fired("r", fact)) == ["typed", "untyped"]
        assert engine.fired("r", {"germline_tested": unread}) == ["untyped"]


def test_an_interrupted_evaluation_still_deletes_its_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A ruleset holds at most 1,024 sessions; one left behind per failure would break it."""
    import rarematch.eligibility.domain.engine as engine_module

    def interrupted(handle: int, asserted: tuple[int, int]) -> dict[str, bool]:
        raise KeyboardInterrupt

    with RuleEngine({"r": {"yes": has("a")}}) as engine:
        with monkeypatch.context() as patch:
            patch.setattr(engine_module, "_drain_actions", interrupted)
            for _ in range(1100):
                with pytest.raises(KeyboardInterrupt):
                    engine.fired("r", {"a": 1})
        assert engine.fired("r", {"a": 1}) == ["yes"]
