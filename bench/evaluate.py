"""Cases per second for evaluation alone (no Kafka, one process), with and without the gate.

    .venv/bin/python -m bench.evaluate                 # the table, ~1 minute
    .venv/bin/python -m bench.evaluate --seconds 10    # longer measurement per path
    .venv/bin/python -m bench.evaluate --breakdown     # where the gated path's time goes
    .venv/bin/python -m bench.evaluate --profile synthetic-1000   # cProfile of the gated path

Scenarios: the shipped catalogue in rules/, 100 and 1,000 synthetic programs
(`tests.synthetic`). For each, `publishable_decisions` (gate, then screen) and
`evaluate` (every case posted to every open program's full ruleset) run on the same stream of
synthetic cases (cycled), alternating in rounds so drift affects both alike. Not part of the
test suite.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from tests.synthetic import synthetic_cases, synthetic_programs

from rarematch.common.contracts import Case, MatchDecided, Outcome
from rarematch.eligibility.domain.checks import Observer
from rarematch.eligibility.domain.engine import EngineError
from rarematch.eligibility.domain.evaluate import (
    CompiledRules,
    _decision,
    _gated,
    _passed,
    compile_rules,
    evaluate,
    evaluate_candidates,
    publishable_decisions,
)
from rarematch.eligibility.domain.facts import case_fact
from rarematch.eligibility.domain.oncotree import OncoTree, bundled_oncotree
from rarematch.eligibility.rulebook.files import read_program_files
from rarematch.eligibility.rulebook.parse import parse_rule_files

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
SCENARIOS = ("catalogue", "synthetic-100", "synthetic-1000")
TARGETS = {"catalogue": 1000.0, "synthetic-1000": 100.0}
"""Gated cases/s the issue asks for."""

Evaluate = Callable[[Case, CompiledRules, datetime], list[MatchDecided]]


@dataclass
class Rate:
    times: list[float] = field(default_factory=list)
    """Seconds per case, in stream order (position i is case i modulo the stream length)."""
    decisions: int = 0
    publishable: int = 0
    error: str | None = None

    @property
    def cases(self) -> int:
        return len(self.times)

    @property
    def per_second(self) -> float:
        return self.over(self.cases)

    def over(self, cases: int) -> float:
        """Cases per second over the first `cases` cases of the stream."""
        spent = sum(self.times[:cases])
        return cases / spent if spent else 0.0


@dataclass
class Scenario:
    name: str
    rules: CompiledRules
    compile_seconds: float
    open_programs: int
    rulesets: int
    rates: dict[str, Rate] = field(default_factory=dict)
    candidates_per_case: float = float("nan")
    """Programs passing the gate (then screened), counted apart from the timed runs."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="per path per scenario")
    parser.add_argument("--rounds", type=int, default=2, help="gated/ungated alternations")
    parser.add_argument("--cases", type=int, default=3000, help="synthetic cases, cycled")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--only", choices=SCENARIOS, action="append", help="repeatable")
    parser.add_argument("--breakdown", action="store_true", help="per-stage timing, gated path")
    parser.add_argument("--profile", choices=SCENARIOS, help="cProfile the gated path")
    args = parser.parse_args(argv)

    tree = bundled_oncotree()
    print(machine())
    cases = synthetic_cases(args.cases, random.Random(args.seed), tree)
    print(f"cases: {len(cases)} synthetic (seed {args.seed}), cycled; now fixed at {NOW}\n")

    names = args.only or ([args.profile] if args.profile else list(SCENARIOS))
    scenarios: list[Scenario] = []
    for name in names:
        try:
            scenario = build(name, tree, args.seed)
        except EngineError as error:
            print(f"**{name}: compile failed**: {error}\n")
            continue
        try:
            if args.profile:
                profile(scenario, cases, args.seconds)
            elif args.breakdown:
                breakdown(scenario, cases, args.seconds)
            else:
                run(scenario, cases, args.seconds, args.rounds)
                scenarios.append(scenario)
        finally:
            scenario.rules.engine.close()
    if scenarios:
        print(table(scenarios))
    return 0


def machine() -> str:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"machine: {os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
        f"durable-rules {version('durable_rules')}, pydantic {version('pydantic')}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


def build(name: str, tree: OncoTree, seed: int) -> Scenario:
    if name == "catalogue":
        rule_set, errors = parse_rule_files(read_program_files(REPO / "rules"), tree)
        if rule_set is None:
            raise SystemExit("\n".join(map(str, errors)))
        programs, label = rule_set.programs, f"bench-{rule_set.version}"
    else:
        count = int(name.removeprefix("synthetic-"))
        programs = tuple(synthetic_programs(count, random.Random(seed + count), tree))
        label = f"bench-{name}"
    start = time.perf_counter()
    rules = compile_rules(programs, label, tree)
    seconds = time.perf_counter() - start
    open_programs = sum(p.status != "closed" for p in programs)
    print(
        f"{name}: {len(programs)} programs ({open_programs} open), "
        f"{len(rules.engine)} rulesets ({len(rules.gates.rulesets)} gate), "
        f"{len(rules.gates.always)} with nothing to gate on; "
        f"compiled in {seconds:.2f} s"
    )
    return Scenario(name, rules, seconds, open_programs, len(rules.engine))


def run(scenario: Scenario, cases: list[Case], seconds: float, rounds: int) -> None:
    # gated: what the service runs (gate, then the screen of each program left, building
    # only publishable decisions); ungated: every case posted to every program's ruleset
    paths: dict[str, Evaluate] = {"gated": publishable_decisions, "ungated": evaluate}
    positions = dict.fromkeys(paths, 0)
    for label, path in paths.items():  # warm-up
        warm = Rate()
        _measure(path, scenario.rules, cases, 0, min(1.0, seconds / 5), warm)
        scenario.rates[label] = Rate(error=warm.error)
    for _ in range(rounds):
        for label, path in paths.items():
            rate = scenario.rates[label]
            if rate.error is None:
                positions[label] = _measure(
                    path, scenario.rules, cases, positions[label], seconds / rounds, rate
                )
    sample = cases[: min(len(cases), 300)]
    scenario.candidates_per_case = sum(
        len(evaluate_candidates(case, scenario.rules, NOW)) for case in sample
    ) / len(sample)
    for label, rate in scenario.rates.items():
        shown = rate.error or f"{rate.per_second:,.1f} cases/s over {rate.cases} cases"
        print(f"  {label}: {shown}")
    gated, ungated = scenario.rates["gated"], scenario.rates["ungated"]
    common = min(gated.cases, ungated.cases)
    if common and not (gated.error or ungated.error):
        print(
            f"  on the same first {common} cases: gated {gated.over(common):,.1f}, "
            f"ungated {ungated.over(common):,.1f} cases/s"
        )
    if gated.cases and not gated.error:
        with_dx = [t for i, t in enumerate(gated.times) if cases[i % len(cases)].diagnosis]
        without = [t for i, t in enumerate(gated.times) if not cases[i % len(cases)].diagnosis]
        print(
            "  gated, by case: "
            + ", ".join(
                f"{label} {len(times) / sum(times):,.1f} cases/s ({len(times)} cases)"
                for label, times in (("with a diagnosis", with_dx), ("without", without))
                if times
            )
        )
    print()


def _measure(
    path: Evaluate, rules: CompiledRules, cases: list[Case], start: int, budget: float, rate: Rate
) -> int:
    """Evaluate cases from `start` (cycling) for `budget` seconds; add to `rate`."""
    position = start
    deadline = time.perf_counter() + budget
    try:
        while True:
            began = time.perf_counter()
            decisions = path(cases[position % len(cases)], rules, NOW)
            ended = time.perf_counter()
            rate.times.append(ended - began)
            position += 1
            rate.decisions += len(decisions)
            rate.publishable += sum(d.outcome is not Outcome.INELIGIBLE for d in decisions)
            if ended >= deadline:
                break
    except EngineError as error:
        rate.error = f"EngineError on case {cases[position % len(cases)].case_id}: {error}"
    return position


def table(scenarios: list[Scenario]) -> str:
    lines = [
        "| scenario | programs (open) | rulesets | compile s | gated cases/s | ungated cases/s "
        "| gated / ungated (same cases) | gate candidates per case "
        "| publishable per case | target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in scenarios:
        gated, ungated = s.rates["gated"], s.rates["ungated"]
        common = min(gated.cases, ungated.cases)
        same = ungated.over(common)
        ratio = gated.over(common) / same if same else float("nan")
        target = TARGETS.get(s.name)
        verdict = (
            "—"
            if target is None
            else f">= {target:,.0f}: {'met' if gated.per_second >= target else 'MISSED'}"
        )
        full = s.candidates_per_case
        publishable = gated.publishable / gated.cases if gated.cases else float("nan")
        lines.append(
            f"| {s.name} | {len(s.rules.programs)} ({s.open_programs}) | {s.rulesets} "
            f"| {s.compile_seconds:.2f} | {_rate(gated)} | {_rate(ungated)} | {ratio:.1f}x "
            f"| {full:.1f} of {s.open_programs} | {publishable:.1f} | {verdict} |"
        )
    return "\n".join(lines)


def _rate(rate: Rate) -> str:
    return "error" if rate.error else f"{rate.per_second:,.1f}"


# --- where the time goes --------------------------------------------------------------------


def breakdown(scenario: Scenario, cases: list[Case], seconds: float) -> None:
    """The gated path's stages, timed one by one (the steps of `publishable_decisions`)."""
    rules = scenario.rules
    for case in cases[:20]:
        if _staged(case, rules, {}) != publishable_decisions(case, rules, NOW):
            print("  breakdown no longer mirrors publishable_decisions: update bench/evaluate.py")
            return
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    count = 0
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        _staged(cases[count % len(cases)], rules, totals, counts)
        count += 1
    elapsed = time.perf_counter() - began
    print(f"  {count} cases, {count / elapsed:,.1f} cases/s (timers included)")
    print("  | stage | µs per case | share |")
    print("  |---|---:|---:|")
    accounted = sum(totals.values())
    for stage, spent in totals.items():
        print(f"  | {stage} | {1e6 * spent / count:,.0f} | {spent / accounted:.0%} |")
    screened, published = max(1, counts["candidates"]), max(1, counts["publishable"])
    print(
        f"  {screened / count:.1f} gate candidates per case, "
        f"{1e6 * totals['engine: screen rulesets'] / screened:.1f} µs each in the engine; "
        f"{published / count:.1f} publishable decisions per case, "
        f"{1e6 * totals['build publishable decisions'] / published:.1f} µs each"
    )
    print()


def _staged(
    case: Case,
    rules: CompiledRules,
    totals: dict[str, float],
    counts: dict[str, int] | None = None,
) -> list[MatchDecided]:
    def add(stage: str, since: float) -> float:
        now = time.perf_counter()
        totals[stage] = totals.get(stage, 0.0) + now - since
        return now

    t = time.perf_counter()
    fact = case_fact(case, rules.oncotree)
    t = add("case_fact", t)
    gated = _gated(fact, rules)
    t = add("engine: gate rulesets", t)
    candidates = _passed(gated, rules)
    t = add("select candidates", t)
    fired = rules.engine.fired_in([c.screen for c in candidates], fact)
    t = add("engine: screen rulesets", t)
    plans = [(c, c.plan(fired[c.screen])) for c in candidates]
    publishable = [(c, plan) for c, plan in plans if plan.outcome is not Outcome.INELIGIBLE]
    t = add("read verdicts (cached plans)", t)
    observe_case = Observer(case)
    decisions = [_decision(observe_case, c, plan, rules, NOW) for c, plan in publishable]
    add("build publishable decisions", t)
    if counts is not None:
        counts["candidates"] = counts.get("candidates", 0) + len(candidates)
        counts["publishable"] = counts.get("publishable", 0) + len(decisions)
    return decisions


def profile(scenario: Scenario, cases: list[Case], seconds: float) -> None:
    for case in cases[:10]:
        publishable_decisions(case, scenario.rules, NOW)
    profiler = cProfile.Profile()
    count, began = 0, time.perf_counter()
    profiler.enable()
    while time.perf_counter() - began < seconds:
        publishable_decisions(cases[count % len(cases)], scenario.rules, NOW)
        count += 1
    profiler.disable()
    print(f"  {count} cases under cProfile (slower than unprofiled)\n")
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.strip_dirs().sort_stats("cumulative").print_stats(25)
    stats.sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    sys.exit(main())
