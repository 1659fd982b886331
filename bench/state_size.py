"""Decision state and match-event bytes per active case, without Kafka (run by hand).

    .venv/bin/python -m bench.state_size [--cases 300]

For the shipped catalogue and for 1,000 synthetic programs, each case goes through the
service's own path (`changes_on_case` from an empty state, then `match_event`), and the
decision-state record (what the compacted changelog holds per case) and the match events are
measured as the bytes Kafka would store before compression. Then the same case again: an
identical resubmission. Figures go to docs/benchmarks.md with the machine.
"""

from __future__ import annotations

import argparse
import random
import statistics
from datetime import UTC, datetime
from pathlib import Path

from tests.synthetic import synthetic_cases, synthetic_programs

from rarematch.common.contracts import MATCH_DECIDED
from rarematch.common.contracts.cloudevents import encode
from rarematch.common.kafka.sizing import record_bytes
from rarematch.eligibility.domain.engine import EngineError
from rarematch.eligibility.domain.evaluate import CompiledRules, compile_rules
from rarematch.eligibility.domain.lifecycle import Catalogue, DecisionState
from rarematch.eligibility.domain.matching import changes_on_case
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300)
    args = parser.parse_args()
    tree = bundled_oncotree()
    shipped = load_rules(REPO / "rules", tree)
    measure("catalogue", shipped, args.cases)
    programs = tuple(synthetic_programs(1000, random.Random(SEED + 1000), tree))
    synthetic = compile_rules(programs, "synthetic-1000", tree)
    measure("synthetic-1000", synthetic, args.cases)


if __name__ == "__main__":
    main()
