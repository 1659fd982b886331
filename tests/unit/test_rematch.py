"""Re-matching after a rule change, without Kafka: which programs, which cases, resumption,
and local state that only takes a batch's writes once its transaction commits."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rarematch.common.contracts import CASE_SUBMITTED, Case, MatchDecided, Outcome
from rarematch.common.contracts.cloudevents import decode, encode
from rarematch.common.kafka.records import Inbound, Outbound
from rarematch.common.kafka.topics import Topics
from rarematch.common.settings import KafkaSettings
from rarematch.eligibility.domain.evaluate import CompiledRules
from rarematch.eligibility.domain.lifecycle import Catalogue, DecisionState
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from rarematch.eligibility.domain.rematch import PartitionMatching, next_slice, planned, sliced
from rarematch.eligibility.handlers import Eligibility
from rarematch.eligibility.rulebook.store import RuleStore, load_rules
from rarematch.eligibility.state import LocalState, PartitionState, matching_key

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
TOPICS = Topics.from_settings(KafkaSettings())


def catalogue(closed: tuple[str, ...] = (), **versions: str) -> Catalogue:
    return Catalogue(versions=versions, closed=frozenset(closed))


# --- planning (pure) -------------------------------------------------------------------------


def test_a_partition_seen_first_is_taken_as_matched_with_the_live_catalogue() -> None:
    now = catalogue(A="1", B="1")
    assert planned(None, now) == PartitionMatching.at(now)
    assert not planned(None, now).rematching


def test_only_new_and_edited_programs_are_re_evaluated() -> None:
    before = PartitionMatching.at(catalogue(A="1", B="1", C="1"))
    after = planned(before, catalogue(A="1", B="2", D="1"))
    assert after.rematching
    assert after.programs == ("B", "D")
    assert after.catalogue == catalogue(A="1", B="2", D="1")


def test_a_program_that_closes_alone_still_visits_every_case() -> None:
    before = PartitionMatching.at(catalogue(A="1", B="1"))
    after = planned(before, catalogue(("B",), A="1"))
    assert after.rematching
    assert after.programs == ()


def test_the_same_catalogue_changes_nothing() -> None:
    before = PartitionMatching.at(catalogue(A="1"))
    assert planned(before, catalogue(A="1")) is before


def test_a_change_during_a_re_match_starts_over_with_both_sets_of_programs() -> None:
    midway = planned(PartitionMatching.at(catalogue(A="1", B="1")), catalogue(A="2", B="1"))
    midway = midway.model_copy(update={"done_through": "case-5"})
    again = planned(midway, catalogue(A="2", B="2"))
    assert again.programs == ("A", "B")
    assert again.done_through is None


def test_slices_walk_the_cases_in_id_order_and_finish() -> None:
    ids = ["case-1", "case-2", "case-3", "case-4", "case-5"]
    progress = planned(PartitionMatching.at(catalogue(A="1")), catalogue(A="2"))
    first = next_slice(progress, ids, 2)
    assert first == ["case-1", "case-2"]
    progress = sliced(progress, first, ids)
    assert progress.done_through == "case-2"
    assert progress.rematching
    second = next_slice(progress, ids, 10)
    assert second == ["case-3", "case-4", "case-5"]
    done = sliced(progress, second, ids)
    assert not done.rematching
    assert done.programs == ()
    assert done.done_through is None
    assert next_slice(done, ids, 10) == []


# --- local state -----------------------------------------------------------------------------


def test_local_state_takes_writes_only_when_committed() -> None:
    state = LocalState()
    state.assign({0: PartitionState()})
    decided = DecisionState(case_id="case-1")
    state.put_case(0, "case-1", b"{}")
    assert state.case_bytes(0, "case-1") == b"{}", "a batch reads its own writes"
    state.discard()
    assert state.case_bytes(0, "case-1") is None
    state.put_case(0, "case-1", b"{}")
    assert state.put_decisions(0, decided) is None, "nothing open: a tombstone"
    state.commit()
    assert state.case_ids(0) == ["case-1"]
    state.drop([0])
    assert not state.owns(0)


# --- the service's re-match, in process ------------------------------------------------------


@pytest.fixture
def rules() -> Iterator[CompiledRules]:
    compiled = load_rules(REPO / "rules", bundled_oncotree())
    yield compiled
    compiled.engine.close()


def sample(name: str) -> Case:
    return Case.model_validate_json((REPO / "examples" / "cases" / f"{name}.json").read_text())


def inbound_case(case: Case, partition: int, offset: int) -> Inbound:
    record = encode(CASE_SUBMITTED, case, key=case.case_id, source="/tests")
    return Inbound(TOPICS.cases.name, partition, offset, record)


def match_events(out: list[Outbound]) -> list[MatchDecided]:
    bodies = []
    for o in out:
        if o.topic == TOPICS.matches.name:
            body = decode(o.record, TOPICS.matches.event_types).body
            assert isinstance(body, MatchDecided)
            bodies.append(body)
    return bodies


def closed_copy(rules: CompiledRules, program_id: str, tmp_path: Path) -> CompiledRules:
    """The shipped rules with one program closed, compiled as the service would."""
    copy = tmp_path / "rules"
    shutil.copytree(REPO / "rules", copy)
    [path] = [
        p for p in (copy / "programs").glob("*.yaml") if f"id: {program_id}\n" in p.read_text()
    ]
    path.write_text(path.read_text().replace("status: recruiting", "status: closed", 1))
    return load_rules(copy, bundled_oncotree())


def test_a_reload_that_closes_a_program_revokes_its_open_matches_in_slices_and_resumes(
    rules: CompiledRules, tmp_path: Path
) -> None:
    store = RuleStore(rules)
    service = Eligibility(
        rules=store.use,
        state=LocalState(),
        topics=TOPICS,
        now=lambda: NOW,
        restore=lambda partitions: {p: PartitionState() for p in partitions},
        slice_size=1,
    )
    service.partitions_assigned({0})
    service.tick()
    service.committed()
    sarcoma = sample("sarcoma-synovial-hla-a0201")
    other = Case.model_validate(
        {**json.loads(sarcoma.model_dump_json()), "case_id": "case-sarc-0002"}
    )
    for offset, case in enumerate([sarcoma, other]):
        record = inbound_case(case, 0, offset)
        envelope = decode(record.record, TOPICS.cases.event_types)
        opened = match_events(service.handle(envelope, record))
        assert ("TECELRA-US", Outcome.ELIGIBLE) in [(d.program_id, d.outcome) for d in opened]
        service.committed()

    closed = closed_copy(rules, "TECELRA-US", tmp_path)
    store.swap(closed)
    first = service.tick()
    assert service.busy(), "one case per slice: the second is still to do"
    [revoked] = match_events(first)
    assert (revoked.case_id, revoked.outcome, revoked.change) == (
        "case-sarc-0001",
        Outcome.REVOKED,
        "program_closed",
    )
    assert any(o.record.key == matching_key(0).encode() for o in first)
    service.committed()

    # A crash now: a new instance restores the partition from what was committed.
    committed = service.state.partitions[0]
    restored = PartitionState(dict(committed.cases), dict(committed.decisions), committed.matching)
    successor = Eligibility(
        rules=store.use,
        state=LocalState(),
        topics=TOPICS,
        now=lambda: NOW,
        restore=lambda partitions: {0: restored},
        slice_size=10,
    )
    successor.partitions_assigned({0})
    [resumed] = match_events(successor.tick())
    assert resumed.case_id == "case-sarc-0002", "resumed after the last case done"
    successor.committed()
    assert not successor.busy()
    assert match_events(successor.tick()) == []
