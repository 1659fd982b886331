"""Session-wide real Kafka broker (rarematch.localkafka) for tests marked `kafka`."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from rarematch.localkafka import BrokerConfig, BrokerError, down, up
from rarematch.ports import free_ports
from tests.postgres import postgres_url

__all__ = ["postgres_url"]  # a real PostgreSQL server, for the notifier store

# Property tests drive the real durable-rules engine, whose first calls are slow: no deadline.
# `default` runs in `make test`; HYPOTHESIS_PROFILE=thorough searches 20x longer, by hand.
# Failing examples are saved in .hypothesis/examples and replayed first on the next run.
_PROPERTY_SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("default", max_examples=100, **_PROPERTY_SETTINGS)
settings.register_profile("thorough", max_examples=2000, **_PROPERTY_SETTINGS)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the broker is marked `kafka` (run `pytest -m 'not kafka'` to skip)."""
    for item in items:
        if "kafka_bootstrap" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kafka)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A skipped Kafka test is a failure: integration tests must run against the real broker."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and item.get_closest_marker("kafka") and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"Kafka test skipped, which counts as a failure: {report.longrepr}"


@pytest.fixture(scope="session")
def kafka_config(tmp_path_factory: pytest.TempPathFactory) -> BrokerConfig:
    """Free port pair, state under pytest's tmp dir, jar cache shared (RAREMATCH_CACHE_DIR)."""
    port, controller_port = free_ports(2)
    return BrokerConfig(
        port=port,
        controller_port=controller_port,
        state_dir=tmp_path_factory.mktemp("kafka-broker"),
    )


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_config: BrokerConfig) -> Iterator[str]:
    """A running broker's bootstrap address; a broker that cannot start fails, never skips."""
    try:
        broker = up(kafka_config, say=lambda msg: print(f"[kafka] {msg}"))
    except BrokerError as exc:
        error = str(exc)
    else:
        error = ""
    if error:
        pytest.fail(f"local Kafka broker could not start: {error}", pytrace=False)
    try:
        yield broker.bootstrap
    finally:
        down(kafka_config, say=lambda msg: print(f"[kafka] {msg}"))
