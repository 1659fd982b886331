"""The one place that builds the eligibility service's adapters and wires them to the core."""

from __future__ import annotations

import functools
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kafka import TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener

from rarematch.common import metrics
from rarematch.common.health import Health
from rarematch.common.kafka.admin import ensure_topics
from rarematch.common.kafka.membership import default_instance_id
from rarematch.common.kafka.runner import Consumer, KafkaLoop, Producer, connect
from rarematch.common.kafka.security import client_security
from rarematch.common.kafka.topics import Topics
from rarematch.common.settings import EligibilitySettings
from rarematch.eligibility.adapters.changelog import restore_partitions
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from rarematch.eligibility.handlers import Eligibility, Restore
from rarematch.eligibility.rulebook.store import RuleStore, load_rules
from rarematch.eligibility.state import LocalState

__all__ = ["SERVICE", "bootstrap", "instance_id", "transactional_id"]

SERVICE = "eligibility"


def instance_id(settings: EligibilitySettings) -> str:
    """The configured instance id, else one derived from the host, group and rules folder."""
    if settings.eligibility_instance_id:
        return settings.eligibility_instance_id
    where = f"{settings.eligibility_group}|{settings.rules_dir.resolve()}"
    return default_instance_id(SERVICE, socket.gethostname(), where)


def transactional_id(settings: EligibilitySettings) -> str:
    """One per instance: a restart under the same id fences what its predecessor left open,
    and the group generation sent with the offsets (KIP-447) fences an instance that lost its
    partitions in a rebalance, so one producer serves whatever partition set it is given."""
    return f"{settings.eligibility_group}.{instance_id(settings)}"


class _StateListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Tells the core which case partitions are its own, so it holds their state only."""

    def __init__(self, assigned: Callable[[set[int]], None]) -> None:
        self._assigned = assigned

    def on_partitions_revoked(self, revoked: Any) -> None:
        """Kept until the new assignment: a partition given straight back needs no restore."""

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self._assigned({tp.partition for tp in assigned})


def bootstrap(
    settings: EligibilitySettings,
    consumer: Consumer | None = None,
    producer: Producer | None = None,
    health: Health | None = None,
    restore: Restore | None = None,
) -> tuple[KafkaLoop, RuleStore]:
    """Load and compile the rules first (a broken rule set fails fast), then connect."""
    health = health or Health()
    store = RuleStore(load_rules(settings.rules_dir, bundled_oncotree()))
    health.rules_loaded = True
    metrics.set_rules_version(store.current().version)
    topics = Topics.from_settings(settings)
    security = client_security(settings)
    eligibility = Eligibility(
        rules=store.use,
        state=LocalState(),
        topics=topics,
        now=lambda: datetime.now(UTC),
        restore=restore
        or functools.partial(
            restore_partitions,
            settings.kafka_bootstrap,
            security,
            topics.case_state.name,
            topics.decision_state.name,
        ),
    )
    if consumer is None or producer is None:
        ensure_topics(settings)
        consumer, producer = connect(
            settings.kafka_bootstrap,
            settings.eligibility_group,
            topics.cases.name,
            client_id=f"{SERVICE}-{socket.gethostname()}",
            group_instance_id=instance_id(settings),
            security=security,
            transactional_id=transactional_id(settings),
            listener=_StateListener(eligibility.partitions_assigned),
        )
    loop = KafkaLoop(
        SERVICE,
        topics.cases,
        topics.cases_dead_letter.name,
        eligibility.handle,
        consumer,
        producer,
        health=health,
        tick=eligibility.tick,
        transaction=eligibility,
    )
    return loop, store
