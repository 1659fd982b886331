"""The eligibility service as shipped, through a real broker: latency, memory across reloads,
and a re-match after a rule edit (run by hand; figures go to docs/benchmarks.md).

    .venv/bin/python -m bench.live latency [--rate 50 --rate 200] [--seconds 30] [--rounds 3]
    .venv/bin/python -m bench.live memory [--programs 1000] [--cases 2000] [--reloads 3]
    .venv/bin/python -m bench.live rematch [--cases 100000]

One broker (rarematch.localkafka, its own free ports); every scenario runs the service as a
subprocess (`python -m rarematch.eligibility`) on its own topics (12 partitions, as created by
the service) and reads its structured log for `rules_reloaded` and `rematch_finished`.

- `latency`: cases offered at a fixed rate by a producer in this process; latency is from the
  send of a case to the arrival of its first match event at a `read_committed` consumer in
  this process (one clock), for the cases that have a match; p50 / p95 / p99 / max per round.
- `memory`: 1,000 synthetic programs written as rule files; resident memory (VmRSS) of the
  service after serving the cases, then after each of N reloads (one program's title edited,
  so the whole set recompiles and the changed program re-matches).
- `rematch`: N active cases under the shipped rules, then TECELRA-US's minimum age raised from
  18 to 40 in the served rules directory: seconds from the edit to `rematch_finished`, and the
  match events the re-match committed.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from tests.synthetic import synthetic_program_dict

from bench.evaluate import machine
from bench.service import _committed, case_records
from rarematch.common.contracts.cloudevents import WireRecord
from rarematch.common.kafka.admin import ensure_topics
from rarematch.common.settings import KafkaSettings
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from rarematch.localkafka import BrokerConfig, down, up
from rarematch.ports import free_ports

REPO = Path(__file__).resolve().parents[1]
SOURCE = "/rarematch/bench"
SEED = 2026


class Service:
    """One eligibility process on its own topics, its JSON log kept in a file."""

    def __init__(self, bootstrap: str, rules: Path, workdir: Path, *, instance: str = "a") -> None:
        self.run = uuid.uuid4().hex[:8]
        self.bootstrap, self.rules = bootstrap, rules
        self.cases, self.matches = f"live.cases.{self.run}", f"live.matches.{self.run}"
        self.group = f"live-{self.run}"
        self.log = workdir / f"eligibility-{self.run}.log"
        ensure_topics(
            KafkaSettings(
                kafka_bootstrap=bootstrap,
                cases_topic=self.cases,
                matches_topic=self.matches,
                case_state_topic=f"live.case-state.{self.run}",
                decision_state_topic=f"live.decision-state.{self.run}",
            )
        )
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "RAREMATCH_KAFKA_BOOTSTRAP": bootstrap,
            "RAREMATCH_CASES_TOPIC": self.cases,
            "RAREMATCH_MATCHES_TOPIC": self.matches,
            "RAREMATCH_CASE_STATE_TOPIC": f"live.case-state.{self.run}",
            "RAREMATCH_DECISION_STATE_TOPIC": f"live.decision-state.{self.run}",
            "RAREMATCH_CASES_DEAD_LETTER_TOPIC": f"live.cases.{self.run}.DLT",
            "RAREMATCH_ELIGIBILITY_GROUP": self.group,
            "RAREMATCH_ELIGIBILITY_INSTANCE_ID": instance,
            "RAREMATCH_RULES_DIR": str(rules),
            "RAREMATCH_ELIGIBILITY_METRICS_PORT": "0",
        }
        self.process: subprocess.Popen[bytes] | None = None

    @contextlib.contextmanager
    def running(self) -> Iterator[Service]:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "rarematch.eligibility"],
                env=self.env,
                cwd=REPO,
                stdout=log,
                stderr=log,
            )
            try:
                self.wait_for(lambda: self.logged("consumer_started"), 600, "the service to start")
                yield self
            finally:
                self.process.terminate()
                self.process.wait(timeout=60)

    def events(self, name: str) -> list[dict[str, Any]]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        parsed = (json.loads(line) for line in lines if line.startswith("{"))
        return [e for e in parsed if e.get("event") == name]

    def logged(self, name: str) -> int:
        return len(self.events(name))

    def has_logged(self, name: str, times: int) -> Callable[[], bool]:
        return lambda: self.logged(name) >= times

    def committed(self) -> int:
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="bench-live")
        try:
            return _committed(admin, self.group)
        finally:
            admin.close()

    def rss_mb(self) -> float:
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    def wait_for(self, condition: Callable[[], object], seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise SystemExit(f"the service exited ({self.process.returncode}); see {self.log}")
            if condition():
                return
            time.sleep(0.2)
        raise SystemExit(f"timed out waiting for {what}; see {self.log}")


def produce(bootstrap: str, topic: str, records: Sequence[WireRecord]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    for r in records:
        producer.send(topic, value=r.value, key=r.key, headers=list(r.headers))
    producer.flush()
    producer.close()


# --- latency ------------------------------------------------------------------------------------


def latency(bootstrap: str, workdir: Path, rate: float, seconds: float, round_: int) -> list[float]:
    """Milliseconds from send to the first committed match event, per case that has one."""
    service = Service(bootstrap, REPO / "rules", workdir)
    warmup = case_records(50, SEED + 1, prefix="warm-")
    records = case_records(int(rate * seconds), SEED + round_)
    with service.running():
        produce(bootstrap, service.cases, warmup)
        service.wait_for(lambda: service.committed() >= len(warmup), 120, "the warm-up cases")
        arrivals: dict[str, float] = {}
        reader = _MatchReader(bootstrap, service.matches, arrivals)
        reader.start()
        sent = _offer(bootstrap, service.cases, records, rate)
        total = len(warmup) + len(records)
        service.wait_for(lambda: service.committed() >= total, 300, "every case committed")
        time.sleep(1.0)  # the last events reach the reader
        reader.stop()
    return [(arrivals[key] - at) * 1000 for key, at in sent.items() if key in arrivals]


class _MatchReader(threading.Thread):
    def __init__(self, bootstrap: str, topic: str, arrivals: dict[str, float]) -> None:
        super().__init__(daemon=True)
        self.arrivals, self._done = arrivals, threading.Event()
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, isolation_level="read_committed", fetch_max_wait_ms=10
        )
        partitions = self.consumer.partitions_for_topic(topic) or set()
        self.consumer.assign([TopicPartition(topic, p) for p in partitions])
        self.consumer.seek_to_end()
        for tp in self.consumer.assignment():
            self.consumer.position(tp)

    def run(self) -> None:
        while not self._done.is_set():
            for records in self.consumer.poll(timeout_ms=50).values():
                now = time.monotonic()
                for record in records:
                    self.arrivals.setdefault(record.key.decode(), now)
        self.consumer.close()

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=30)


def _offer(
    bootstrap: str, topic: str, records: Sequence[WireRecord], rate: float
) -> dict[str, float]:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    sent: dict[str, float] = {}
    start = time.monotonic()
    for index, r in enumerate(records):
        due = start + index / rate
        time.sleep(max(0.0, due - time.monotonic()))
        assert r.key is not None
        sent[r.key.decode()] = time.monotonic()
        producer.send(topic, value=r.value, key=r.key, headers=list(r.headers))
    producer.flush()
    producer.close()
    return sent


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run_latency(bootstrap: str, workdir: Path, args: argparse.Namespace) -> None:
    for rate in args.rate or [50.0, 200.0]:
        p99s = []
        for round_ in range(1, args.rounds + 1):
            ms = latency(bootstrap, workdir, rate, args.seconds, round_)
            p99s.append(percentile(ms, 99))
            print(
                f"latency {rate:.0f}/s round {round_}: {len(ms)} cases with a match; ms p50 "
                f"{percentile(ms, 50):.1f} p95 {percentile(ms, 95):.1f} "
                f"p99 {percentile(ms, 99):.1f} max {max(ms):.1f}",
                flush=True,
            )
        print(f"latency {rate:.0f}/s p99 min / median / max: {_mmm(p99s)} ms")


def _mmm(values: list[float]) -> str:
    return " / ".join(f"{v:.1f}" for v in (min(values), statistics.median(values), max(values)))


# --- memory across reloads ----------------------------------------------------------------------


def synthetic_rules(target: Path, count: int) -> None:
    programs = target / "programs"
    programs.mkdir(parents=True)
    rng, tree, routes = random.Random(SEED + count), bundled_oncotree(), set()
    for index in range(count):
        program = synthetic_program_dict(index, rng, tree)
        routes.update(program.get("notify", []))
        text = yaml.safe_dump(program, sort_keys=False, allow_unicode=True)
        (programs / f"{program['id']}.yaml").write_text(text, encoding="utf-8")
    routing = {
        "default_route": "route-central",
        "routes": {r: {"email": [f"{r}@coordinators.example.org"]} for r in sorted(routes)},
    }
    (target / "routing.yaml").write_text(yaml.safe_dump(routing), encoding="utf-8")


def run_memory(bootstrap: str, workdir: Path, args: argparse.Namespace) -> None:
    rules = workdir / "rules-synthetic"
    synthetic_rules(rules, args.programs)
    service = Service(bootstrap, rules, workdir)
    started = time.monotonic()
    with service.running():
        print(
            f"memory: started with {args.programs} programs in {time.monotonic() - started:.0f} s"
        )
        produce(bootstrap, service.cases, case_records(args.cases, SEED))
        service.wait_for(lambda: service.committed() >= args.cases, 1800, "cases served")
        readings = [service.rss_mb()]
        print(f"memory: serving {args.cases} cases: {readings[-1]:,.0f} MB", flush=True)
        # a closed program's edit re-matches nothing: edit one that is open
        edited = next(
            path
            for path in sorted((rules / "programs").glob("*.yaml"))
            if "status: recruiting" in path.read_text(encoding="utf-8")
        )
        for reload in range(1, args.reloads + 1):
            text = re.sub(
                r"^title: .*$",
                f"title: Synthetic program, revision {reload}",
                edited.read_text(encoding="utf-8"),
                count=1,
                flags=re.MULTILINE,
            )
            edited.write_text(text, encoding="utf-8")
            service.wait_for(service.has_logged("rules_reloaded", reload), 1800, "the reload")
            service.wait_for(service.has_logged("rematch_finished", reload), 1800, "the re-match")
            time.sleep(2.0)
            readings.append(service.rss_mb())
            print(f"memory: after reload {reload}: {readings[-1]:,.0f} MB", flush=True)
    growth = [b - a for a, b in itertools.pairwise(readings)]
    print(
        "memory: RSS MB serving, then after each reload: "
        + " / ".join(f"{r:,.0f}" for r in readings)
        + f"; change per reload: {' / '.join(f'{g:+,.0f}' for g in growth)}"
    )


# --- re-match through Kafka ---------------------------------------------------------------------


def run_rematch(bootstrap: str, workdir: Path, args: argparse.Namespace) -> None:
    rules = workdir / "rules-shipped"
    shutil.copytree(REPO / "rules", rules)
    service = Service(bootstrap, rules, workdir)
    with service.running():
        produce(bootstrap, service.cases, case_records(args.cases, SEED))
        service.wait_for(lambda: service.committed() >= args.cases, 3600, "cases served")
        before = _count(bootstrap, service.matches)
        program = rules / "programs" / "TECELRA-US-afami-cel.yaml"
        program.write_text(program.read_text().replace("min_years: 18", "min_years: 40", 1))
        edited = time.monotonic()
        service.wait_for(service.has_logged("rematch_finished", 1), 3600, "the re-match")
        seconds = time.monotonic() - edited
        reported = service.events("rematch_finished")[0]
        time.sleep(2.0)
        after = _count(bootstrap, service.matches)
    print(
        f"rematch: {args.cases:,} active cases through Kafka: {seconds:.1f} s from the edit to "
        f"rematch_finished (the service reports {reported['seconds']} s, "
        f"{reported['changes']} changes); {after - before} match events committed"
    )


def _count(bootstrap: str, topic: str) -> int:
    """Committed records on `topic` (read_committed end offsets minus start offsets)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed")
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        records = 0
        while batch := consumer.poll(timeout_ms=2000):
            records += sum(len(rs) for rs in batch.values())
        return records
    finally:
        consumer.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="scenario", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--rate", type=float, action="append", help="cases/s, repeatable")
    lat.add_argument("--seconds", type=float, default=30)
    lat.add_argument("--rounds", type=int, default=3)
    mem = sub.add_parser("memory")
    mem.add_argument("--programs", type=int, default=1000)
    mem.add_argument("--cases", type=int, default=2000)
    mem.add_argument("--reloads", type=int, default=3)
    rem = sub.add_parser("rematch")
    rem.add_argument("--cases", type=int, default=100_000)
    args = parser.parse_args(argv)

    print(machine())
    scenario = {"latency": run_latency, "memory": run_memory, "rematch": run_rematch}
    port, controller = free_ports(2)
    with tempfile.TemporaryDirectory(prefix="bench-live-") as work:
        config = BrokerConfig(port=port, controller_port=controller, state_dir=Path(work) / "kafka")
        bootstrap = up(config, say=lambda _: None).bootstrap
        try:
            scenario[args.scenario](bootstrap, Path(work), args)
        finally:
            down(config, say=lambda _: None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
