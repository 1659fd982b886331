"""Change-only decisions (eligibility.domain.lifecycle): new, changed, revoked, and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from rarematch.common.contracts import CriterionResult, CriterionStatus, MatchDecided, Outcome
from rarematch.eligibility.domain.lifecycle import (
    Catalogue,
    ChangeReason,
    DecisionState,
    changes_for,
    program_version,
    withdrawn,
)
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from rarematch.eligibility.rulebook.store import load_rules
from tests.unit.test_gate import RULES_DIR

PROGRAMS = ["P1", "P2", "P3", "P4"]
CATALOGUE = Catalogue(versions=dict.fromkeys(PROGRAMS, "sha256:v1"))
FACTS = ["ECOG performance status", "HLA-A typing", "CD7 % of blasts"]


def decision(program_id: str, outcome: Outcome, facts: list[str] | None = None) -> MatchDecided:
    failing = outcome is Outcome.INELIGIBLE
    return MatchDecided(
        case_id="case-life-1",
        program_id=program_id,
        program_title=f"Program {program_id}",
        outcome=outcome,
        criteria=[
            CriterionResult(criterion_id="dx", section="inclusion", status=CriterionStatus.MET,
                            text="diagnosis"),
            CriterionResult(criterion_id="hla", section="inclusion",
                            status=CriterionStatus.NOT_MET if failing else CriterionStatus.MET,
                            text="HLA-A*02"),
        ],
        facts_to_collect=facts or [],
        rules_version="sha256:rules",
        decided_at=datetime(2026, 12, 1, tzinfo=UTC),
    )  # fmt: skip


EMPTY = DecisionState(case_id="case-life-1")


def test_a_first_open_decision_is_new_and_an_ineligible_one_is_not_published() -> None:
    decided = {"P1": decision("P1", Outcome.ELIGIBLE), "P2": decision("P2", Outcome.INELIGIBLE)}
    changes, state = changes_for(EMPTY, decided, CATALOGUE)
    assert [(c.program_id, c.outcome, c.previous, c.reason) for c in changes] == [
        ("P1", Outcome.ELIGIBLE, None, ChangeReason.NEW)
    ]
    assert set(state.open) == {"P1"}
    assert state.open["P1"].program_version == "sha256:v1"


def test_an_identical_resubmission_publishes_nothing() -> None:
    decided = {"P1": decision("P1", Outcome.NEEDS_INFO, ["ECOG performance status"])}
    _, state = changes_for(EMPTY, decided, CATALOGUE)
    assert changes_for(state, decided, CATALOGUE) == ([], state)


def test_a_case_that_now_fails_a_criterion_is_revoked_naming_it() -> None:
    _, state = changes_for(EMPTY, {"P1": decision("P1", Outcome.ELIGIBLE)}, CATALOGUE)
    [change], after = changes_for(state, {"P1": decision("P1", Outcome.INELIGIBLE)}, CATALOGUE)
    assert (change.outcome, change.previous, change.reason) == (
        Outcome.REVOKED,
        Outcome.ELIGIBLE,
        ChangeReason.FAILS_CRITERION,
    )
    assert change.failing_criterion == "hla"
    assert after.open == {}


def test_changed_outcome_and_changed_facts_are_changes() -> None:
    first = {"P1": decision("P1", Outcome.NEEDS_INFO, ["ECOG performance status"])}
    _, state = changes_for(EMPTY, first, CATALOGUE)
    fewer = {"P1": decision("P1", Outcome.NEEDS_INFO, ["HLA-A typing"])}
    [facts], state = changes_for(state, fewer, CATALOGUE)
    assert facts.reason is ChangeReason.FACTS_CHANGED
    [outcome], _ = changes_for(state, {"P1": decision("P1", Outcome.ELIGIBLE)}, CATALOGUE)
    assert (outcome.reason, outcome.previous) == (ChangeReason.OUTCOME_CHANGED, Outcome.NEEDS_INFO)


def test_a_program_that_closes_or_goes_revokes_its_open_decisions() -> None:
    decided = {p: decision(p, Outcome.ELIGIBLE) for p in ("P1", "P2", "P3")}
    _, state = changes_for(EMPTY, decided, CATALOGUE)
    now = Catalogue(versions={"P3": "sha256:v1"}, closed=frozenset({"P1"}))
    changes, after = changes_for(state, {}, now)
    assert [(c.program_id, c.reason) for c in changes] == [
        ("P1", ChangeReason.PROGRAM_CLOSED),
        ("P2", ChangeReason.PROGRAM_REMOVED),
    ]
    assert set(after.open) == {"P3"}, "an open program not re-evaluated keeps its decision"


def test_a_withdrawal_revokes_every_open_decision() -> None:
    decided = {p: decision(p, Outcome.ELIGIBLE) for p in ("P2", "P1")}
    _, state = changes_for(EMPTY, decided, CATALOGUE)
    changes, after = withdrawn(state)
    assert [(c.program_id, c.outcome, c.reason) for c in changes] == [
        ("P1", Outcome.REVOKED, ChangeReason.CASE_WITHDRAWN),
        ("P2", Outcome.REVOKED, ChangeReason.CASE_WITHDRAWN),
    ]
    assert after.open == {}
    assert withdrawn(after) == ([], after)


def test_a_program_version_changes_with_its_criteria_and_not_with_its_tests() -> None:
    rules = load_rules(RULES_DIR, bundled_oncotree())
    try:
        program = rules.programs[0]
    finally:
        rules.engine.close()
    untested = program.model_copy(update={"tests": []})
    retitled = program.model_copy(update={"title": program.title + " (amended)"})
    assert program_version(untested) == program_version(program)
    assert program_version(retitled) != program_version(program)


# --- properties --------------------------------------------------------------------------------

decisions = st.dictionaries(
    st.sampled_from(PROGRAMS),
    st.builds(
        lambda outcome, facts: (outcome, facts),
        st.sampled_from([Outcome.ELIGIBLE, Outcome.NEEDS_INFO, Outcome.INELIGIBLE]),
        st.lists(st.sampled_from(FACTS), unique=True, max_size=2),
    ),
).map(lambda d: {p: decision(p, outcome, facts) for p, (outcome, facts) in d.items()})


@given(first=decisions, second=decisions)
def test_changes_take_the_published_state_exactly_to_the_new_decisions(
    first: dict[str, MatchDecided], second: dict[str, MatchDecided]
) -> None:
    _, state = changes_for(EMPTY, first, CATALOGUE)
    changes, after = changes_for(state, second, CATALOGUE)
    # replaying the published changes over what was published gives the new state
    replayed = {p: s.outcome for p, s in state.open.items()}
    for change in changes:
        assert change.previous == replayed.get(change.program_id)
        if change.outcome is Outcome.REVOKED:
            del replayed[change.program_id]
        else:
            replayed[change.program_id] = change.outcome
    assert replayed == {p: s.outcome for p, s in after.open.items()}
    # and nothing is published for a decision that did not change
    unchanged = {
        p
        for p, d in second.items()
        if (p in state.open) == (d.outcome is not Outcome.INELIGIBLE)
        and (p not in state.open or (state.open[p].outcome, state.open[p].to_collect)
             == (d.outcome, d.facts_to_collect))
    }  # fmt: skip
    assert unchanged.isdisjoint(c.program_id for c in changes)
    assert changes_for(after, second, CATALOGUE)[0] == [], "a resubmission publishes nothing"
