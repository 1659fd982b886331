"""The one place that builds the notifier's adapters and wires them to the core."""

from __future__ import annotations

import functools
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from kafka.errors import KafkaError

from rarematch.common.health import Health
from rarematch.common.kafka.admin import ensure_topics
from rarematch.common.kafka.membership import default_instance_id
from rarematch.common.kafka.runner import Consumer, KafkaLoop, Producer, connect
from rarematch.common.kafka.security import client_security
from rarematch.common.kafka.topics import Topics
from rarematch.common.logging import get_logger
from rarematch.common.settings import NotifierSettings
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from rarematch.notifier.adapters.heartbeat import start_heartbeats
from rarematch.notifier.adapters.routing_watcher import RoutingReloader, load_valid_routing
from rarematch.notifier.adapters.smtp_channel import SmtpChannel
from rarematch.notifier.adapters.store import open_store
from rarematch.notifier.dispatch import ChannelFactory, Dispatcher, RetryPolicy
from rarematch.notifier.domain.claims import Instance, new_epoch
from rarematch.notifier.domain.routing import Routing
from rarematch.notifier.ports import Channel, Store

__all__ = ["SERVICE", "bootstrap", "instance_id", "real_channels"]

SERVICE = "notifier"


def real_channels(settings: NotifierSettings, routing: Routing) -> ChannelFactory:
    """(route, channel name) -> SMTP, signed webhook or Apprise channel, built once each."""

    @cache
    def channel(route_name: str, name: str) -> Channel:
        route = routing.routes[route_name]
        if name == "email":
            return SmtpChannel.from_settings(settings, route.email)
        # webhook and apprise are imported when first used: httpx and apprise add most of a
        # second to every start, and a restart should be delivering again within seconds
        if name == "webhook" and route.webhook is not None:
            from rarematch.notifier.adapters.webhook_channel import WebhookChannel

            return WebhookChannel.from_targets([route.webhook])
        if name == "apprise" and route.apprise is not None:
            from rarematch.notifier.adapters.apprise_channel import AppriseChannel

            return AppriseChannel.from_target(route.apprise)
        raise KeyError(f"route {route_name} has no {name} channel")

    return channel


def instance_id(settings: NotifierSettings) -> str:
    """The configured instance id, else one derived from the host, group and store path."""
    if settings.notifier_instance_id:
        return settings.notifier_instance_id
    where = f"{settings.notifier_group}|{Path(settings.notifier_store_path).resolve()}"
    return default_instance_id(SERVICE, socket.gethostname(), where)


def bootstrap(
    settings: NotifierSettings,
    channels: Callable[[Routing], ChannelFactory] | None = None,
    store: Store | None = None,
    consumer: Consumer | None = None,
    producer: Producer | None = None,
    health: Health | None = None,
) -> tuple[KafkaLoop, RoutingReloader]:
    """Validate the rules directory first (as the eligibility service does), then connect.

    `channels` builds the channel factory for a routing; it is called again on every reload.
    """
    oncotree = bundled_oncotree()
    routing, routing_version = load_valid_routing(settings.rules_dir, oncotree)
    health = health or Health()
    health.rules_loaded = True
    build_channels = channels or functools.partial(real_channels, settings)
    topics = Topics.from_settings(settings)
    if store is None:
        url = settings.notifier_database_url
        store = open_store(
            url.get_secret_value() if url else None, Path(settings.notifier_store_path)
        )
    instance = Instance(instance_id(settings), new_epoch())
    dispatcher = Dispatcher(
        routing=routing,
        channel=build_channels(routing),
        store=store,
        executor=ThreadPoolExecutor(settings.delivery_workers, thread_name_prefix="deliver"),
        dead_letter_topic=settings.notifications_dead_letter_topic,
        now=lambda: datetime.now(UTC),
        instance=instance,
        case_url_template=settings.case_url_template,
        retry=RetryPolicy(
            settings.retry_attempts,
            settings.retry_base_delay_s,
            settings.retry_max_delay_s,
            claim_wait_s=settings.claim_wait_s,
            stale_after_s=settings.claim_stale_after_s,
        ),
        per_channel_limit=settings.per_channel_limit,
    )
    if consumer is None or producer is None:
        ensure_topics(settings, [settings.notifications_dead_letter_topic])
        consumer, producer = connect(
            settings.kafka_bootstrap,
            settings.notifier_group,
            topics.matches.name,
            client_id=f"{SERVICE}-{socket.gethostname()}",
            group_instance_id=instance.id,
            security=client_security(settings),
        )
    start_heartbeats(dispatcher.beat, settings.heartbeat_interval_s, health.alive)
    get_logger().info("notifier_instance", instance_id=instance.id, epoch=instance.epoch)
    reloader = RoutingReloader(
        dispatcher, settings.rules_dir, oncotree, build_channels, routing_version
    )
    loop = KafkaLoop(
        SERVICE,
        topics.matches,
        topics.matches_dead_letter.name,
        None,
        consumer,
        producer,
        batch_handler=dispatcher.handle_batch,
        tick=dispatcher.flush_digests,
        transport_errors=(KafkaError, *store.unavailable),
        health=health,
    )
    return loop, reloader
