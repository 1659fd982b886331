"""What the fault suite shares: services as real processes, the scale of a run, offsets read
from the broker, and the table it writes to docs/reliability.md."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from kafka import KafkaConsumer, TopicPartition

from rarematch.common.kafka.admin import ensure_topics
from rarematch.common.settings import KafkaSettings
from tests.waiting import committed_offsets, wait_until

REPO = Path(__file__).resolve().parents[2]
FULL = os.environ.get("RAREMATCH_FAULTS_SCALE", "ci") == "full"
"""`make faults` runs every scenario at full size; CI runs the same scenarios smaller."""


def sized(ci: int, full: int) -> int:
    return full if FULL else ci


class ServiceProcess:
    """One service (`python -m rarematch.<module>`) as a real process, killed with SIGKILL."""

    def __init__(self, module: str, env: Mapping[str, str], log: Path) -> None:
        self.module, self.env, self.log_path = module, dict(env), log
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.self_exits = 0
        """Times the process ended without being killed: a crash (loop)."""
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"rarematch.{self.module}"],
            env={**os.environ, **self.env},
            cwd=REPO,
            stdout=self._log,
            stderr=self._log,
        )
        self.starts += 1

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            self.self_exits += 1
            raise AssertionError(
                f"{self.module} exited by itself ({self.process.returncode}); see {self.log_path}"
            )

    def kill(self) -> None:
        assert self.process is not None
        self.check_alive()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self._close_log()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def committed(bootstrap: str, group: str) -> int:
    """Records the group has committed, summed over partitions (0 before its first commit)."""
    return sum(committed_offsets(bootstrap, group).values())


def all_records(
    bootstrap: str, topic: str, expected_at_least: int, timeout_s: float = 120
) -> list[Any]:
    """Every record of `topic`, read from the start until at least `expected_at_least` came
    and a further second brought nothing new."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed"
    )
    records: list[Any] = []
    try:
        partitions = wait_until(lambda: consumer.partitions_for_topic(topic), 30, f"{topic} exists")
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        consumer.seek_to_beginning()
        deadline = time.monotonic() + timeout_s
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            batch = [r for rs in consumer.poll(timeout_ms=500).values() for r in rs]
            records.extend(batch)
            if batch:
                quiet_since = time.monotonic()
            elif len(records) >= expected_at_least and time.monotonic() - quiet_since > 1.0:
                break
    finally:
        consumer.close()
    return records


def decisions_published(
    bootstrap: str, topic: str, expected_at_least: int
) -> list[tuple[str, str]]:
    """(case id, program id) of every match event on `topic`, repeats included."""
    matches = all_records(bootstrap, topic, expected_at_least)
    return [(r.key.decode(), json.loads(r.value)["program_id"]) for r in matches]


@dataclass
class Row:
    scenario: str
    sent: int
    expected: int
    received: int
    lost: int
    duplicated: int
    crashes: int
    recover_s: list[float] = field(default_factory=list)
    note: str = ""

    def cells(self) -> list[str]:
        recover = (
            f"{min(self.recover_s):.1f} / {_median(self.recover_s):.1f} / {max(self.recover_s):.1f}"
            if self.recover_s
            else "-"
        )
        return [
            self.scenario,
            f"{self.sent:,}",
            f"{self.expected:,}",
            f"{self.received:,}",
            str(self.lost),
            str(self.duplicated),
            str(self.crashes),
            recover,
            self.note,
        ]


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


HEADER = [
    "scenario",
    "sent",
    "expected",
    "received",
    "lost",
    "duplicated",
    "crashes",
    "s to recover (min / median / max)",
    "notes",
]


def render_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Stack:
    """Topic and group names of one scenario's run, and the environment both services get."""

    bootstrap: str
    run: str

    @property
    def cases(self) -> str:
        return f"f{self.run}.cases"

    @property
    def case_state(self) -> str:
        return f"f{self.run}.case-state"

    @property
    def decision_state(self) -> str:
        return f"f{self.run}.decision-state"

    @property
    def matches(self) -> str:
        return f"f{self.run}.matches"

    @property
    def cases_dlt(self) -> str:
        return f"f{self.run}.cases.DLT"

    @property
    def matches_dlt(self) -> str:
        return f"f{self.run}.matches.DLT"

    @property
    def notifications_dlt(self) -> str:
        return f"f{self.run}.notifications.DLT"

    @property
    def eligibility_group(self) -> str:
        return f"eligibility-{self.run}"

    @property
    def notifier_group(self) -> str:
        return f"notifier-{self.run}"

    def create_topics(self) -> None:
        """Every topic of this run, as the services would create them."""
        settings = KafkaSettings(
            kafka_bootstrap=self.bootstrap,
            cases_topic=self.cases,
            case_state_topic=self.case_state,
            decision_state_topic=self.decision_state,
            matches_topic=self.matches,
            cases_dead_letter_topic=self.cases_dlt,
            matches_dead_letter_topic=self.matches_dlt,
        )
        ensure_topics(settings, [self.notifications_dlt])

    def env(self, rules_dir: Path, **extra: str) -> dict[str, str]:
        return {
            "RAREMATCH_KAFKA_BOOTSTRAP": self.bootstrap,
            "RAREMATCH_CASES_TOPIC": self.cases,
            "RAREMATCH_CASE_STATE_TOPIC": self.case_state,
            "RAREMATCH_DECISION_STATE_TOPIC": self.decision_state,
            "RAREMATCH_MATCHES_TOPIC": self.matches,
            "RAREMATCH_CASES_DEAD_LETTER_TOPIC": self.cases_dlt,
            "RAREMATCH_MATCHES_DEAD_LETTER_TOPIC": self.matches_dlt,
            "RAREMATCH_NOTIFICATIONS_DEAD_LETTER_TOPIC": self.notifications_dlt,
            "RAREMATCH_ELIGIBILITY_GROUP": self.eligibility_group,
            "RAREMATCH_NOTIFIER_GROUP": self.notifier_group,
            "RAREMATCH_ELIGIBILITY_METRICS_PORT": "0",
            "RAREMATCH_NOTIFIER_METRICS_PORT": "0",
            "RAREMATCH_RULES_DIR": str(rules_dir),
            **extra,
        }
