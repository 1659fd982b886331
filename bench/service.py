"""Cases per second through a real Kafka broker, against the same work without Kafka.

    .venv/bin/python -m bench.service                     # 20,000 cases, 3 rounds, ~10 minutes
    .venv/bin/python -m bench.service --cases 5000 --rounds 1

One broker (rarematch.localkafka, its own free ports), one topic of synthetic cases
(tests/synthetic.py) produced once, then per round, in this order:

- `service`: the eligibility service as shipped, a subprocess in its own consumer group, with
  kafka-python's C CRC32C (`kafka-python[crc32c]`);
- `service-x2`: two such processes (instance ids `a` and `b`) in one consumer group, sharing
  the 12 partitions; timed from the moment the group is stable with both members;
- `service-pure-crc`: the same, with the `crc32c` package hidden from kafka-python, which then
  checks every record with its pure-Python CRC;
- `plain-loop`: a plain kafka-python consume -> produce loop with the same delivery guarantees
  (batch poll, one output record per input, in one transaction with the batch's offsets,
  read_committed, zstd), no evaluation and no state;
- `handler-only`: the service's own batch processing (decode, evaluate, encode the match
  events) in this process on the same records, with no broker at all.

The Kafka variants are timed from the consumer group's first commit to the commit of the last
record, read every 0.1 s from the broker, so start-up and group joins are left out.
Not part of the test suite; figures and the machine go into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, OffsetAndMetadata
from kafka.errors import KafkaError
from tests.synthetic import synthetic_cases

from bench.evaluate import machine
from rarematch.common.contracts import CASE_SUBMITTED
from rarematch.common.contracts.cloudevents import WireRecord, encode
from rarematch.common.kafka.admin import ensure_topics
from rarematch.common.kafka.records import Inbound
from rarematch.common.kafka.runner import TRANSACTIONAL_RETRY_BACKOFF_MS
from rarematch.common.logging import configure_logging
from rarematch.common.settings import EligibilitySettings, KafkaSettings
from rarematch.eligibility.bootstrap import bootstrap
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from rarematch.eligibility.state import PartitionState
from rarematch.localkafka import BrokerConfig, down, up
from rarematch.ports import free_ports

REPO = Path(__file__).resolve().parents[1]
VARIANTS = ("service", "service-x2", "service-pure-crc", "plain-loop", "handler-only")
CASES_TOPIC = "bench.cases"
SOURCE = "/rarematch/bench"

_HIDE_CRC32C = "import sys; sys.modules['crc32c'] = None; "
_SERVICE = "from rarematch.eligibility.__main__ import main; main()"
_PLAIN_LOOP = "from bench.service import plain_loop; plain_loop()"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--rules", type=Path, default=REPO / "rules")
    parser.add_argument("--only", choices=VARIANTS, action="append", help="repeatable")
    args = parser.parse_args(argv)
    variants = args.only or list(VARIANTS)

    print(machine())
    records = case_records(args.cases, args.seed)
    size = sum(len(r.value or b"") for r in records) / len(records)
    print(f"cases: {len(records)} synthetic (seed {args.seed}), {size:,.0f} bytes on average")
    port, controller = free_ports(2)
    with tempfile.TemporaryDirectory(prefix="bench-kafka-") as state:
        config = BrokerConfig(port=port, controller_port=controller, state_dir=Path(state))
        bootstrap_servers = up(config, say=lambda _: None).bootstrap
        try:
            produce(bootstrap_servers, records)
            rates = {name: [] for name in variants}  # type: dict[str, list[float]]
            for round_ in range(1, args.rounds + 1):
                for name in variants:
                    rate = measure(name, bootstrap_servers, records, args.rules)
                    rates[name].append(rate)
                    print(f"round {round_}: {name}: {rate:,.0f} cases/s", flush=True)
        finally:
            down(config, say=lambda _: None)
    print(table(rates))
    return 0


def case_records(count: int, seed: int, prefix: str = "") -> list[WireRecord]:
    """Synthetic case events; `prefix` before each case id keeps two sets apart."""
    cases = synthetic_cases(count, random.Random(seed), bundled_oncotree())
    if prefix:
        cases = [c.model_copy(update={"case_id": f"{prefix}{c.case_id}"}) for c in cases]
    return [encode(CASE_SUBMITTED, c, key=c.case_id, source=SOURCE) for c in cases]


def produce(bootstrap_servers: str, records: list[WireRecord]) -> None:
    ensure_topics(_settings(bootstrap_servers, "bench.setup"))
    producer = KafkaProducer(
        bootstrap_servers=bootstrap_servers, acks="all", linger_ms=5, batch_size=256 * 1024
    )
    for r in records:
        producer.send(CASES_TOPIC, value=r.value, key=r.key, headers=list(r.headers))
    producer.flush()
    producer.close()


def measure(name: str, bootstrap_servers: str, records: list[WireRecord], rules: Path) -> float:
    if name == "handler-only":
        return handler_only(records, rules)
    run = uuid.uuid4().hex[:8]
    group, matches = f"bench-{name}-{run}", f"bench.matches.{run}"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "RAREMATCH_KAFKA_BOOTSTRAP": bootstrap_servers,
        "RAREMATCH_CASES_TOPIC": CASES_TOPIC,
        "RAREMATCH_MATCHES_TOPIC": matches,
        "RAREMATCH_CASE_STATE_TOPIC": f"bench.case-state.{run}",
        "RAREMATCH_DECISION_STATE_TOPIC": f"bench.decision-state.{run}",
        "RAREMATCH_ELIGIBILITY_GROUP": group,
        "RAREMATCH_RULES_DIR": str(rules),
        "RAREMATCH_ELIGIBILITY_METRICS_PORT": "0",
    }
    code = {
        "service": _SERVICE,
        "service-x2": _SERVICE,
        "service-pure-crc": _HIDE_CRC32C + _SERVICE,
        "plain-loop": _PLAIN_LOOP,
    }[name]
    instances = ("a", "b") if name == "service-x2" else ("a",)
    with contextlib.ExitStack() as stack:
        processes = []
        for instance in instances:
            log = stack.enter_context(tempfile.TemporaryFile())
            process = subprocess.Popen(
                [sys.executable, "-c", code],
                env={**env, "RAREMATCH_ELIGIBILITY_INSTANCE_ID": instance},
                cwd=REPO,
                stdout=log,
                stderr=log,
            )
            stack.callback(_stop, process)
            processes.append(process)
        return _drain_rate(bootstrap_servers, group, len(records), processes)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=60)


def _drain_rate(
    bootstrap_servers: str, group: str, total: int, processes: list[subprocess.Popen[bytes]]
) -> float:
    """Records per second from the group's first commit (with every process a member of the
    stable group) to the commit of the last record."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="bench-progress")
    try:
        first: tuple[float, int] | None = None
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            for process in processes:
                if process.poll() is not None:
                    raise SystemExit(f"{group}: a process under test exited ({process.returncode})")
            done = _committed(admin, group)
            now = time.monotonic()
            if done and first is None and _stable_with(admin, group, len(processes)):
                first = (now, done)
            if first is not None and done >= total:
                seconds = now - first[0]
                return (total - first[1]) / seconds if seconds else float("nan")
            time.sleep(0.1)
        raise SystemExit(f"{group}: did not finish within 30 minutes")
    finally:
        admin.close()


def _stable_with(admin: KafkaAdminClient, group: str, members: int) -> bool:
    if members == 1:
        return True
    try:
        described = admin.describe_groups([group]).get(group, {})
    except KafkaError:
        return False
    return described.get("group_state") == "Stable" and len(described.get("members", [])) == members


def _committed(admin: KafkaAdminClient, group: str) -> int:
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    except KafkaError:  # the group does not exist until its first member joins
        return 0
    return sum(meta.offset for meta in offsets.values() if meta.offset > 0)


def handler_only(records: list[WireRecord], rules: Path) -> float:
    """The service's own per-batch processing without a broker: decode, evaluate, encode."""
    settings = EligibilitySettings(rules_dir=rules, eligibility_metrics_port=0)
    with Path(os.devnull).open("w") as sink, contextlib.redirect_stderr(sink):
        configure_logging("eligibility", settings.log_level)  # the service's JSON lines, unread
        return _timed_batches(records, settings)


def _timed_batches(records: list[WireRecord], settings: EligibilitySettings) -> float:
    loop, store = bootstrap(
        settings,
        consumer=_NoKafka(),
        producer=_NoKafka(),
        restore=lambda partitions: {p: PartitionState() for p in partitions},
    )
    inbounds = [Inbound(CASES_TOPIC, 0, i, r) for i, r in enumerate(records)]
    assert loop.transaction is not None
    start = time.perf_counter()
    for begin in range(0, len(inbounds), 500):  # the service's max_poll_records
        loop.process_batch(inbounds[begin : begin + 500])
        loop.transaction.committed()  # local state takes the batch, as after a commit
    seconds = time.perf_counter() - start
    store.current().engine.close()
    return len(records) / seconds


class _NoKafka:
    """Stands in for the consumer and producer that `handler_only` never calls."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"handler-only touched Kafka ({name})")


def plain_loop() -> None:
    """Consume -> produce one record per input -> flush -> commit, until terminated."""
    bootstrap_servers = os.environ["RAREMATCH_KAFKA_BOOTSTRAP"]
    out = os.environ["RAREMATCH_MATCHES_TOPIC"]
    group = os.environ["RAREMATCH_ELIGIBILITY_GROUP"]
    consumer = KafkaConsumer(
        CASES_TOPIC,
        bootstrap_servers=bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_records=500,
    )
    producer = KafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        linger_ms=5,
        batch_size=256 * 1024,
        compression_type="zstd",
        transactional_id=f"{group}.plain",
        retry_backoff_ms=TRANSACTIONAL_RETRY_BACKOFF_MS,
    )
    producer.init_transactions()
    while True:
        batch = consumer.poll(timeout_ms=500)
        if not batch:
            continue
        producer.begin_transaction()
        for records in batch.values():
            for r in records:
                producer.send(out, value=r.value, key=r.key, headers=list(r.headers or ()))
        offsets = {tp: OffsetAndMetadata(rs[-1].offset + 1, "", -1) for tp, rs in batch.items()}
        producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
        producer.commit_transaction()


def _settings(bootstrap_servers: str, matches: str) -> KafkaSettings:
    return KafkaSettings(
        kafka_bootstrap=bootstrap_servers, cases_topic=CASES_TOPIC, matches_topic=matches
    )


def table(rates: dict[str, list[float]]) -> str:
    def cell(values: list[float]) -> str:
        return " / ".join(
            f"{v:,.0f}" for v in (min(values), statistics.median(values), max(values))
        )

    lines = [
        "| variant | cases/s min / median / max | ÷ handler-only (median) |",
        "|---|---:|---:|",
    ]
    reference = statistics.median(rates["handler-only"]) if rates.get("handler-only") else None
    for name, values in rates.items():
        ratio = f"{statistics.median(values) / reference:.2f}" if reference else "—"
        lines.append(f"| {name} | {cell(values)} | {ratio} |")
    pairs = [
        ("service-x2", "service"),
        ("service", "handler-only"),
        ("service", "service-pure-crc"),
        ("service", "plain-loop"),
    ]
    for a, b in pairs:
        if rates.get(a) and rates.get(b):
            ratios = [x / y for x, y in zip(rates[a], rates[b], strict=True)]
            lines.append(
                f"\n{a} ÷ {b} per round: "
                + " / ".join(
                    f"{r:.2f}" for r in (min(ratios), statistics.median(ratios), max(ratios))
                )
                + " (min / median / max)"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
