"""The eligibility service's state lives in Kafka, not in a process: a restarted instance
rebuilds it and republishes nothing, and two instances that split the partitions mid-stream
publish exactly what one instance publishes for the same stream."""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from rarematch.common.contracts import CASE_SUBMITTED, CASE_WITHDRAWN, Case, CaseWithdrawn
from rarematch.common.contracts.case import OrganFunction, PerformanceScore
from rarematch.common.contracts.cloudevents import WireRecord, encode
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from tests.faults.harness import (
    REPO,
    Row,
    ServiceProcess,
    Stack,
    all_records,
    committed,
    sized,
    wait_until,
)
from tests.faults.test_eligibility_kills import stream
from tests.synthetic import synthetic_cases

RULES = REPO / "rules"
SEED = 2027
OPEN = {"eligible", "needs_info"}

UNFIT = {
    "performance": [
        PerformanceScore(scale="ECOG", value=4),
        PerformanceScore(scale="Karnofsky", value=20),
        PerformanceScore(scale="Lansky", value=20),
    ],
    "organ_function": OrganFunction(
        bilirubin_x_uln=10,
        alt_x_uln=20,
        ast_x_uln=20,
        creatinine_x_uln=10,
        creatinine_clearance_ml_min=10,
        lvef_percent=10,
        anc_per_ul=100,
        platelets_per_ul=1000,
        hemoglobin_g_dl=5,
    ),
}
"""An update that fails every performance and organ-function bound."""

History = dict[tuple[str, str], list[tuple[str, str]]]
"""(case id, program id) → the (change, outcome) of each event, in published order."""


def submitted(case: Case) -> WireRecord:
    return encode(CASE_SUBMITTED, case, key=case.case_id, source="/faults")


def withdrawn(case_id: str) -> WireRecord:
    body = CaseWithdrawn(case_id=case_id, reason="enrolled")
    return encode(CASE_WITHDRAWN, body, key=case_id, source="/faults")


def lifecycle_stream(cases: list[Case]) -> list[WireRecord]:
    """Every case once, then what happens to them next: identical resubmissions (nothing to
    publish), updates that fail performance and organ bounds or change the diagnosis (new
    decisions, revocations, changed outcomes) and withdrawals
    (revocations) — each decided against the state an earlier record left."""
    records = [submitted(c) for c in cases]
    for index, case in enumerate(cases):
        if index % 3 == 0:
            records.append(submitted(case))
        elif index % 6 == 1:
            records.append(submitted(case.model_copy(update=UNFIT)))
        elif index % 6 == 4:
            other = cases[(index + 1) % len(cases)].diagnosis
            records.append(submitted(case.model_copy(update={"diagnosis": other})))
        elif index % 6 == 2:
            records.append(withdrawn(case.case_id))
    return records


def history(bootstrap: str, topic: str, at_least: int) -> History:
    events: History = defaultdict(list)
    for record in all_records(bootstrap, topic, at_least):
        event = json.loads(record.value)
        events[(event["case_id"], event["program_id"])].append((event["change"], event["outcome"]))
    return dict(events)


def published_count(events: History) -> int:
    return sum(len(changes) for changes in events.values())


def logged(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def open_decisions(events: History, case_id: str) -> set[str]:
    return {p for (c, p), changes in events.items() if c == case_id and changes[-1][1] in OPEN}


def test_a_restart_rebuilds_state_from_the_changelog_and_republishes_nothing(
    kafka_bootstrap: str, tmp_path: Path, reliability: list[Row]
) -> None:
    count = sized(ci=150, full=1000)
    cases = synthetic_cases(count, random.Random(SEED), bundled_oncotree())
    stack = Stack(kafka_bootstrap, uuid.uuid4().hex[:8])
    stack.create_topics()
    service = ServiceProcess("eligibility", stack.env(RULES), tmp_path / "eligibility.log")
    group = stack.eligibility_group
    service.start()
    try:
        stream(kafka_bootstrap, stack.cases, [submitted(c) for c in cases], 2)
        wait_until(lambda: committed(kafka_bootstrap, group) >= count, 120, "first submissions")
        first = history(kafka_bootstrap, stack.matches, 1)

        service.kill()  # kill -9: nothing is flushed or handed over
        service.start()
        stream(kafka_bootstrap, stack.cases, [submitted(c) for c in cases], 2)
        wait_until(lambda: committed(kafka_bootstrap, group) >= 2 * count, 120, "resubmissions")
        leaving = next(c.case_id for c in cases if open_decisions(first, c.case_id))
        stream(kafka_bootstrap, stack.cases, [withdrawn(leaving)], 0)
        wait_until(lambda: committed(kafka_bootstrap, group) >= 2 * count + 1, 120, "withdrawal")
        service.check_alive()
    finally:
        service.stop()

    after = history(kafka_bootstrap, stack.matches, published_count(first) + 1)
    new = {key: changes[len(first.get(key, [])) :] for key, changes in after.items()}
    new = {key: changes for key, changes in new.items() if changes}
    revoked = {
        (leaving, p): [("case_withdrawn", "revoked")] for p in open_decisions(first, leaving)
    }
    reliability.append(
        Row(
            "eligibility: kill -9, restart, resubmit every case",
            sent=2 * count + 1,
            expected=published_count(first) + len(revoked),
            received=published_count(after),
            lost=len(revoked.keys() - new.keys()),
            duplicated=published_count({k: v for k, v in new.items() if k not in revoked}),
            crashes=service.self_exits,
            note="state rebuilt from the changelog: resubmissions publish nothing",
        )
    )
    assert new == revoked, "after the restart: only the withdrawn case's revocations"
    assert service.self_exits == 0


def test_two_instances_with_a_rebalance_mid_stream_publish_what_one_publishes(
    kafka_bootstrap: str, tmp_path: Path, reliability: list[Row]
) -> None:
    count = sized(ci=240, full=1500)
    seconds = sized(ci=30, full=90)
    cases = synthetic_cases(count, random.Random(SEED), bundled_oncotree())
    records = lifecycle_stream(cases)

    alone = Stack(kafka_bootstrap, uuid.uuid4().hex[:8])
    alone.create_topics()
    one = ServiceProcess("eligibility", alone.env(RULES), tmp_path / "alone.log")
    one.start()
    try:
        stream(kafka_bootstrap, alone.cases, records, seconds / 3)
        wait_until(lambda: committed(kafka_bootstrap, alone.eligibility_group) >= len(records),
                   180, "one instance: every record")  # fmt: skip
        one.check_alive()
    finally:
        one.stop()
    expected = history(kafka_bootstrap, alone.matches, 1)

    shared = Stack(kafka_bootstrap, uuid.uuid4().hex[:8])
    shared.create_topics()
    group = shared.eligibility_group
    first, second = (
        ServiceProcess(
            "eligibility",
            shared.env(RULES, RAREMATCH_ELIGIBILITY_INSTANCE_ID=name),
            tmp_path / f"{name}.log",
        )
        for name in ("first", "second")
    )
    producer = threading.Thread(
        target=stream, args=(kafka_bootstrap, shared.cases, records, seconds), daemon=True
    )
    first.start()
    producer.start()
    try:
        wait_until(lambda: committed(kafka_bootstrap, group) > 0, 60, "the first commit")
        second.start()  # joins: the partitions split, the second restores its half
        wait_until(lambda: committed(kafka_bootstrap, group) > len(records) // 2, 180, "half")
        first.stop()  # leaves mid-stream: the second takes every partition over
        producer.join(timeout=300)
        wait_until(lambda: committed(kafka_bootstrap, group) >= len(records), 180, "all records")
        second.check_alive()
    finally:
        first.stop()
        second.stop()
    actual = history(kafka_bootstrap, shared.matches, published_count(expected))

    differing = {k for k in expected.keys() | actual.keys() if expected.get(k) != actual.get(k)}
    reliability.append(
        Row(
            "eligibility: a second instance joins, then the first leaves, mid-stream",
            sent=len(records),
            expected=published_count(expected),
            received=published_count(actual),
            lost=sum(1 for k in differing if len(actual.get(k, [])) < len(expected.get(k, []))),
            duplicated=sum(
                1 for k in differing if len(actual.get(k, [])) > len(expected.get(k, []))
            ),
            crashes=first.self_exits + second.self_exits,
            note="per (case, program) change sequence compared with one instance's",
        )
    )
    assert any(change == "case_withdrawn" for changes in expected.values() for change, _ in changes)
    assert any(
        change == "fails_criterion" for changes in expected.values() for change, _ in changes
    )
    restored = [e["cases"] for e in logged(second.log_path) if e["event"] == "state_restored"]
    assert len(restored) >= 2, "the second restored state on joining and on taking over"
    assert restored[0] > 0, "the second took over cases the first had decided"
    assert differing == set(), f"{len(differing)} (case, program) histories differ from one's"
    assert first.self_exits + second.self_exits == 0
