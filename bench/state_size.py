"""Decision state and match-event bytes per active case, without Kafka (run by hand).

    .venv/bin/python -m bench.state_size [--cases 300] [--rematch 100000]

For the shipped catalogue and for 1,000 synthetic programs, each case goes through the
service's own path (`changes_on_case` from an empty state, then `match_event`), and the
decision-state record (what the compacted changelog holds per case) and the match events are
measured as the bytes Kafka would store before compression. Then the same case again: an
identical resubmission. With --rematch N: N active cases under the shipped rules, one program
edited (TECELRA-US's minimum age), and the re-match the service runs per case after the
reload — parse the stored case and decisions, decide the changed program, diff, encode the
events — timed over all N (Kafka left out). Figures go to docs/benchmarks.md with the machine.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.synthetic import synthetic_cases, synthetic_programs

from rarematch.common.contracts import MATCH_DECIDED, Case
from rarematch.common.contracts.cloudevents import encode
from rarematch.common.kafka.sizing import record_bytes
from rarematch.eligibility.domain.engine import EngineError
from rarematch.eligibility.domain.evaluate import CompiledRules, compile_rules
from rarematch.eligibility.domain.lifecycle import Catalogue, DecisionState
from rarematch.eligibility.domain.matching import changes_on_case, changes_on_rematch
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from rarematch.eligibility.domain.publication import match_event
from rarematch.eligibility.rulebook.store import load_rules

REPO = Path(__file__).resolve().parents[1]
SEED = 2026


def measure(label: str, rules: CompiledRules, count: int) -> None:
    tree = bundled_oncotree()
    now = datetime.now(UTC)
    catalogue = Catalogue.of(rules.programs)
    state_bytes, event_bytes, events, again = [], [], [], []
    for case in synthetic_cases(count, random.Random(SEED), tree):
        try:
            changes, after = changes_on_case(
                case, DecisionState(case_id=case.case_id), rules, catalogue, now
            )
            repeat, _ = changes_on_case(case, after, rules, catalogue, now)
        except EngineError:
            continue
        records = [
            encode(
                MATCH_DECIDED,
                match_event(c, case.case_id, rules, catalogue, now),
                key=case.case_id,
                source="/bench",
            )
            for c in changes
        ]
        events.append(len(records))
        event_bytes.append(sum(record_bytes(r) for r in records))
        state_bytes.append(len(after.model_dump_json()) if after.open else 0)
        again.append(len(repeat))
    print(
        f"{label}: {len(events)} cases; match events per case mean {statistics.mean(events):.1f}"
        f" (max {max(events)}); match-event bytes per case mean "
        f"{statistics.mean(event_bytes):,.0f} (max {max(event_bytes):,}); decision-state bytes"
        f" per case mean {statistics.mean(state_bytes):,.0f} (max {max(state_bytes):,});"
        f" events on an identical resubmission: {sum(again)}"
    )


def rematch(count: int) -> None:
    tree = bundled_oncotree()
    now = datetime.now(UTC)
    base = load_rules(REPO / "rules", tree)
    catalogue = Catalogue.of(base.programs)
    stored: list[tuple[bytes, bytes]] = []
    for case in synthetic_cases(count, random.Random(SEED), tree):
        try:
            _, after = changes_on_case(
                case, DecisionState(case_id=case.case_id), base, catalogue, now
            )
        except EngineError:
            continue
        stored.append((case.model_dump_json().encode(), after.model_dump_json().encode()))
    with tempfile.TemporaryDirectory() as tmp:
        edited = Path(tmp) / "rules"
        shutil.copytree(REPO / "rules", edited)
        program = edited / "programs" / "TECELRA-US-afami-cel.yaml"
        program.write_text(program.read_text().replace("min_years: 18", "min_years: 40", 1))
        proposed = load_rules(edited, tree)
    new_catalogue = Catalogue.of(proposed.programs)
    changed = sorted(new_catalogue.changed_since(catalogue))
    published = 0
    start = time.perf_counter()
    for case_json, state_json in stored:
        case = Case.model_validate_json(case_json)
        state = DecisionState.model_validate_json(state_json)
        changes, after = changes_on_rematch(case, state, proposed, new_catalogue, changed, now)
        for change in changes:
            event = match_event(change, case.case_id, proposed, new_catalogue, now)
            encode(MATCH_DECIDED, event, key=case.case_id, source="/bench")
            published += 1
        if after != state:
            after.model_dump_json()
    seconds = time.perf_counter() - start
    print(
        f"rematch: {len(stored):,} active cases, programs re-evaluated {changed}: "
        f"{seconds:.1f} s ({len(stored) / seconds:,.0f} cases/s), {published} events published"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--rematch", type=int, default=0, help="active cases to re-match")
    args = parser.parse_args()
    if args.rematch:
        rematch(args.rematch)
        return
    tree = bundled_oncotree()
    shipped = load_rules(REPO / "rules", tree)
    measure("catalogue", shipped, args.cases)
    programs = tuple(synthetic_programs(1000, random.Random(SEED + 1000), tree))
    synthetic = compile_rules(programs, "synthetic-1000", tree)
    measure("synthetic-1000", synthetic, args.cases)


if __name__ == "__main__":
    main()
