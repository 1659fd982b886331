"""Create the topics the services use, so consumers never wait for auto-creation."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from rarematch.common.kafka.security import (
    CONNECT_TIMEOUT_MS,
    client_security,
    explained_connection_errors,
)
from rarematch.common.kafka.sizing import TOPIC_MAX_MESSAGE_BYTES
from rarematch.common.settings import KafkaSettings

__all__ = ["TopicsMisconfigured", "ensure_topics"]


def ensure_topics(settings: KafkaSettings, extra_dead_letter_topics: Iterable[str] = ()) -> None:
    """Create missing topics: case, case-state and match topics partitioned for scaling (the
    same count, so a case's records share a partition number), DLTs with one; case state is
    compacted, and so are decision state and case summaries.

    Every topic accepts a record as large as the services produce (`max.message.bytes`).
    Raises KafkaUnreachable (one line: where, how, why) when no broker can be reached."""
    wanted = {
        settings.cases_topic: settings.topic_partitions,
        settings.case_state_topic: settings.topic_partitions,
        settings.decision_state_topic: settings.topic_partitions,
        settings.matches_topic: settings.topic_partitions,
        settings.case_summaries_topic: settings.topic_partitions,
        settings.cases_dead_letter_topic: 1,
        settings.matches_dead_letter_topic: 1,
        **dict.fromkeys(extra_dead_letter_topics, 1),
    }
    security = client_security(settings)
    with explained_connection_errors(settings.kafka_bootstrap, security):
        admin = KafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap,
            client_id="rarematch-admin",
            bootstrap_timeout_ms=CONNECT_TIMEOUT_MS,
            **security,
        )
    try:
        missing = set(wanted) - set(admin.list_topics())
        for name in sorted(missing):
            with suppress(TopicAlreadyExistsError):  # another instance created it first
                compacted = name in {
                    settings.case_state_topic,
                    settings.decision_state_topic,
                    settings.case_summaries_topic,
                }
                admin.create_topics(
                    [_new_topic(name, wanted[name], settings.topic_replication, compacted)]
                )
        co_partitioned = [
            settings.cases_topic,
            settings.case_state_topic,
            settings.decision_state_topic,
        ]
        _check_co_partitioned(
            admin,
            {name: settings.topic_partitions for name in co_partitioned if name in missing},
            [name for name in co_partitioned if name not in missing],
        )
    finally:
        admin.close()


class TopicsMisconfigured(RuntimeError):
    """Existing topics the services cannot use as they are."""


def _check_co_partitioned(
    admin: KafkaAdminClient, created: dict[str, int], existing: list[str]
) -> None:
    """A case's state is written to its case's partition number, and a partition's state is
    restored by number: the topics must have the same count of partitions."""
    described = admin.describe_topics(existing) if existing else []
    counts = {**created, **{t["name"]: len(t["partitions"]) for t in described}}
    if len(set(counts.values())) > 1:
        found = ", ".join(f"{name}: {count}" for name, count in counts.items())
        raise TopicsMisconfigured(
            f"the case, case-state and decision-state topics must have the same number of "
            f"partitions ({found}); add partitions to the smaller ones with kafka-topics.sh "
            "--alter, or point RAREMATCH_*_TOPIC at new topics"
        )


def _new_topic(name: str, partitions: int, replication: int, compacted: bool) -> NewTopic:
    configs = {"max.message.bytes": str(TOPIC_MAX_MESSAGE_BYTES)}
    if compacted:  # state keyed by case id: the latest record per key is what counts
        configs["cleanup.policy"] = "compact"
    return NewTopic(name, partitions, replication, topic_configs=configs)
