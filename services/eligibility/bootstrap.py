"""The one place that builds the eligibility service's adapters and wires them to the core."""

from __future__ import annotations

import functools
import socket
from datetime import UTC, datetime

from rarematch.common import metrics
from rarematch.common.health import Health
from rarematch.common.kafka.admin import ensure_topics
from rarematch.common.kafka.membership import default_instance_id
from rarematch.common.kafka.runner import Consumer, KafkaLoop, Producer, connect
from rarematch.common.kafka.security import client_security
from rarematch.common.kafka.topics import Topics
from rarematch.common.settings import EligibilitySettings
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from rarematch.eligibility.handlers import handle_case_event
from rarematch.eligibility.rulebook.store import RuleStore, load_rules

__all__ = ["SERVICE", "bootstrap", "instance_id"]

SERVICE = "eligibility"


def instance_id(settings: EligibilitySettings) -> str:
    """The configured instance id, else one derived from the host, group and rules folder."""
    if settings.eligibility_instance_id:
        return settings.eligibility_instance_id
    where = f"{settings.eligibility_group}|{settings.rules_dir.resolve()}"
    return default_instance_id(SERVICE, socket.gethostname(), where)


def bootstrap(
    settings: EligibilitySettings,
    consumer: Consumer | None = None,
    producer: Producer | None = None,
    health: Health | None = None,
) -> tuple[KafkaLoop, RuleStore]:
    """Load and compile the rules first (a broken rule set fails fast), then connect."""
    health = health or Health()
    store = RuleStore(load_rules(settings.rules_dir, bundled_oncotree()))
    health.rules_loaded = True
    metrics.set_rules_version(store.current().version)
    topics = Topics.from_settings(settings)
    if consumer is None or producer is None:
        ensure_topics(settings)
        consumer, producer = connect(
            settings.kafka_bootstrap,
            settings.eligibility_group,
            topics.cases.name,
            client_id=f"{SERVICE}-{socket.gethostname()}",
            group_instance_id=instance_id(settings),
            security=client_security(settings),
        )
    handler = functools.partial(
        handle_case_event,
        rules=store.use,
        now=lambda: datetime.now(UTC),
        matches_topic=topics.matches.name,
        case_state_topic=topics.case_state.name,
    )
    loop = KafkaLoop(
        SERVICE,
        topics.cases,
        topics.cases_dead_letter.name,
        handler,
        consumer,
        producer,
        health=health,
    )
    return loop, store
