"""The one place that builds the notifier's adapters and wires them to the core."""

from __future__ import annotations

import functools
import socket

from notifier.adapters.routing_file import load_routing
from notifier.adapters.smtp_notifier import SmtpNotifier
from notifier.handlers import Notifier, handle_match_event
from rarematch_common.kafka.admin import ensure_topics
from rarematch_common.kafka.runner import Consumer, KafkaLoop, Producer, connect
from rarematch_common.kafka.topics import Topics
from rarematch_common.settings import NotifierSettings

__all__ = ["SERVICE", "bootstrap"]

SERVICE = "notifier"


def bootstrap(
    settings: NotifierSettings,
    email: Notifier | None = None,
    consumer: Consumer | None = None,
    producer: Producer | None = None,
) -> KafkaLoop:
    routing = load_routing(settings.rules_dir)
    topics = Topics.from_settings(settings)
    if email is None:
        email = SmtpNotifier(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout_s=settings.smtp_timeout_s,
        )
    if consumer is None or producer is None:
        ensure_topics(settings)
        consumer, producer = connect(
            settings.kafka_bootstrap,
            settings.notifier_group,
            topics.matches.name,
            client_id=f"{SERVICE}-{socket.gethostname()}",
        )
    handler = functools.partial(handle_match_event, routing=routing, email=email)
    return KafkaLoop(
        SERVICE, topics.matches, topics.matches_dead_letter.name, handler, consumer, producer
    )
