"""The local Kafka broker behind `rarematch kafka up|down|status`, against the real thing."""

from __future__ import annotations

import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from typer.testing import CliRunner

from rarematch.localkafka import (
    KAFKA_VERSION,
    BrokerConfig,
    BrokerError,
    down,
    kafka_app,
    libs_dir,
    provision,
    status,
    up,
)
from rarematch.ports import free_ports

pytestmark = pytest.mark.kafka


def broker_pids(config: BrokerConfig) -> list[int]:
    """Every live process whose command line names this config's server.properties."""
    needle = os.fsencode(config.server_properties)
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                args = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if needle in args and b"kafka.Kafka" in args:
                pids.append(int(proc.name))
    return pids


def test_status_reports_running_and_answering(
    kafka_config: BrokerConfig, kafka_bootstrap: str
) -> None:
    current = status(kafka_config)
    assert current.running
    assert current.answering
    assert current.bootstrap == kafka_bootstrap
    assert current.version == KAFKA_VERSION
    assert current.pid == int(kafka_config.pid_file.read_text())
    assert broker_pids(kafka_config) == [current.pid]


def test_second_up_returns_the_running_broker(
    kafka_config: BrokerConfig, kafka_bootstrap: str
) -> None:
    before = status(kafka_config)
    said: list[str] = []
    again = up(kafka_config, say=said.append)
    assert again.pid == before.pid
    assert again.running
    assert again.answering
    assert not any("starting" in line for line in said), said
    assert any("already running" in line for line in said), said
    assert broker_pids(kafka_config) == [before.pid]


def test_cli_up_prints_bootstrap_last_and_status_exits_zero(
    kafka_config: BrokerConfig, kafka_bootstrap: str
) -> None:
    args = ["--port", str(kafka_config.port), "--state-dir", str(kafka_config.state_dir)]
    started = CliRunner().invoke(kafka_app, ["up", *args])
    assert started.exit_code == 0, started.output
    assert started.stdout.strip().splitlines()[-1] == kafka_bootstrap
    shown = CliRunner().invoke(kafka_app, ["status", *args])
    assert shown.exit_code == 0, shown.output
    assert "answering: yes" in shown.stdout


def test_produced_record_is_consumed_back(kafka_bootstrap: str) -> None:
    topic = f"localkafka-roundtrip-{uuid.uuid4().hex[:8]}"
    value = uuid.uuid4().bytes
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:
        sent = producer.send(topic, key=b"case-1", value=value).get(timeout=30)
    finally:
        producer.close()

    consumer = KafkaConsumer(
        bootstrap_servers=kafka_bootstrap, enable_auto_commit=False, group_id=None
    )
    try:
        partition = TopicPartition(topic, sent.partition)
        consumer.assign([partition])
        consumer.seek(partition, sent.offset)
        deadline = time.monotonic() + 30
        received: list[Any] = []
        while not received and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                received.extend(records)
    finally:
        consumer.close()
    assert [(r.key, r.value) for r in received[:1]] == [(b"case-1", value)]


def test_provision_downloads_once_then_skips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = BrokerConfig(cache_dir=tmp_path / "cache", state_dir=tmp_path / "state")
    libs = libs_dir(config)
    # Debris of an interrupted run must never count as complete.
    libs.mkdir(parents=True)
    (libs / "half-written.jar").write_bytes(b"")
    (libs.parent / "download-stale").mkdir()

    first: list[str] = []
    assert provision(config, say=first.append) == libs
    assert any(line.startswith("downloading Apache Kafka") for line in first), first
    jars = sorted(p.name for p in libs.glob("*.jar"))
    assert any(name.startswith(f"kafka_2.13-{KAFKA_VERSION}") for name in jars)
    assert "half-written.jar" not in jars
    assert not list(libs.parent.glob("download-*"))
    marker = libs / ".rarematch-provisioned"
    stamp = marker.stat().st_mtime_ns

    # With no mvn (or java) reachable, only a marker check can succeed.
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    second: list[str] = []
    assert provision(config, say=second.append) == libs
    assert second == [f"Apache Kafka {KAFKA_VERSION} already provisioned in {libs}"]
    assert marker.stat().st_mtime_ns == stamp


def test_up_refuses_a_port_held_by_something_else(tmp_path: Path) -> None:
    port, controller_port = free_ports(2)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        config = BrokerConfig(
            port=port, controller_port=controller_port, state_dir=tmp_path / "state"
        )
        with pytest.raises(BrokerError, match=f"port {port} on 127.0.0.1 is already in use"):
            up(config, say=lambda _msg: None)
    assert not config.pid_file.exists()


def test_down_stops_a_separate_broker(tmp_path: Path, kafka_bootstrap: str) -> None:
    # kafka_bootstrap first, so the jar cache is provisioned before this broker starts.
    port, controller_port = free_ports(2)
    config = BrokerConfig(port=port, controller_port=controller_port, state_dir=tmp_path / "b")
    started = up(config, say=lambda _msg: None, timeout=60)
    assert started.pid is not None
    try:
        assert down(config, say=lambda _msg: None, timeout=20)
    finally:
        if broker_pids(config):  # never leave a broker behind, even if down() misbehaved
            os.kill(started.pid, 9)
    assert broker_pids(config) == []
    assert not config.pid_file.exists()
    assert not status(config).running
    assert not down(config, say=lambda _msg: None)
    shown = CliRunner().invoke(
        kafka_app, ["status", "--port", str(port), "--state-dir", str(config.state_dir)]
    )
    assert shown.exit_code == 1
