"""The notifier's core loop body: route each decision, deduplicate, deliver, dead-letter.

Per batch of match events: every delivery (decision x route x channel) runs in a bounded
thread pool, each channel with its own concurrency limit, so a slow or dead channel does not
hold up the others. A delivery claims its dedup key first and completes it after sending; a
key already sent is skipped; a key another live instance has in flight is waited for, and one
whose holder is gone (this instance before a restart, or an instance whose heartbeat stopped)
is taken over at once and sent again with the same idempotency key (Message-ID, webhook-id).
A delivery that fails its whole retry budget is released and dead-lettered. Digest routes
queue decisions in the store; `flush_digests` sends one message per route once its window
has passed.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime

from rarematch.common import metrics
from rarematch.common.contracts import MatchDecided, Outcome
from rarematch.common.contracts.cloudevents import Envelope, WireRecord
from rarematch.common.kafka.dead_letter import dead_letter
from rarematch.common.kafka.records import Inbound, Outbound
from rarematch.common.logging import get_logger
from rarematch.notifier.adapters.retry import deliver_with_retry
from rarematch.notifier.domain.claims import Instance, new_epoch
from rarematch.notifier.domain.delivery import (
    Delivery,
    alert_key,
    alert_prefix,
    alerted_route,
    deliveries_for,
    revocation_deliveries,
)
from rarematch.notifier.domain.render import render_decision, render_digest
from rarematch.notifier.domain.routing import Routing
from rarematch.notifier.ports import Channel, DeliveryError, DigestEntry, Notification, Store

__all__ = ["ChannelFactory", "Dispatcher", "RetryPolicy"]

ChannelFactory = Callable[[str, str], Channel]
"""(route, channel name) -> the channel that delivers to that route."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    claim_wait_s: float = 120.0
    """How long to wait for a delivery another live instance has in flight (its retries)."""
    stale_after_s: float = 5.0
    """A claim's holder whose heartbeat is older than this is gone: its claims are taken over."""


@dataclass
class Dispatcher:
    routing: Routing
    channel: ChannelFactory
    """(route, channel name) -> the channel that delivers to that route."""
    store: Store
    executor: Executor
    dead_letter_topic: str
    now: Callable[[], datetime]
    instance: Instance = field(default_factory=lambda: Instance("notifier", new_epoch()))
    """Who claims: this notifier instance in this process (heartbeats are written for it)."""
    case_url_template: str | None = None
    retry: RetryPolicy = RetryPolicy()
    per_channel_limit: int = 4
    sleep: Callable[[float], None] = time.sleep
    _limits: dict[str, threading.Semaphore] = field(default_factory=dict)
    _swap: threading.Lock = field(default_factory=threading.Lock)

    def replace_routing(self, routing: Routing, channel: ChannelFactory) -> None:
        """Route from now on with `routing` (a reload); deliveries in flight finish as begun."""
        with self._swap:
            self.routing, self.channel = routing, channel

    def _routes(self) -> tuple[Routing, ChannelFactory]:
        with self._swap:
            return self.routing, self.channel

    def handle_batch(self, batch: list[tuple[Envelope, Inbound]]) -> list[Outbound]:
        """Deliver everything a batch of match events owes; return dead letters to produce."""
        routing, channel = self._routes()
        immediate: dict[str, tuple[Delivery, Inbound]] = {}
        for envelope, inbound in batch:
            assert isinstance(envelope.body, MatchDecided)
            for delivery in self._deliveries(envelope.body, routing):
                if routing.routes[delivery.route].mode == "digest":
                    self._queue_for_digest(delivery)
                else:
                    immediate.setdefault(delivery.key, (delivery, inbound))  # same key once
        futures = [
            self.executor.submit(self._deliver, delivery, inbound, channel)
            for delivery, inbound in immediate.values()
        ]
        return [letter for future in futures if (letter := future.result()) is not None]

    def _deliveries(self, decision: MatchDecided, routing: Routing) -> list[Delivery]:
        """What a decision owes; a revocation only to the routes that were sent an alert."""
        if decision.outcome != Outcome.REVOKED:
            return deliveries_for(decision, routing)
        prefix = alert_prefix(decision.case_id, decision.program_id)
        alerted = {
            route
            for key in self.store.sent_keys(prefix)
            if (route := alerted_route(key, prefix)) is not None
        }
        deliveries = revocation_deliveries(decision, alerted, routing)
        if not deliveries:
            metrics.NOTIFICATIONS.labels("none", "revocation_skipped").inc()
            get_logger().info(
                "revocation_skipped",
                case_id=decision.case_id,
                program_id=decision.program_id,
                change=decision.change.value,
                alerted_routes=sorted(alerted),
            )
        return deliveries

    def flush_digests(self) -> list[Outbound]:
        """Send every digest whose window has passed; return dead letters for failed ones."""
        routing, channel = self._routes()
        letters: list[Outbound] = []
        for name, route in routing.routes.items():
            oldest = self.store.oldest_digest_entry(name) if route.mode == "digest" else None
            if oldest is None or self.now() - oldest < route.digest_window:
                continue
            entries = self.store.digest_entries(name)
            decisions = [MatchDecided.model_validate_json(e.body) for e in entries]
            digest_id = (
                "dig_"
                + hashlib.sha256("|".join([name, *(e.key for e in entries)]).encode()).hexdigest()[
                    :32
                ]
            )
            notification = render_digest(name, decisions, oldest, digest_id, self.case_url_template)
            for channel_name in route.channels:
                key = f"digest|{name}|{digest_id}|{channel_name}"
                error = self._send_once(channel, key, name, channel_name, notification)
                if error is not None:
                    letters.append(self._digest_letter(name, channel_name, notification, error))
            self.store.remove_digest_entries(name, [e.key for e in entries])
            get_logger().info("digest_sent", route=name, decisions=len(decisions))
        return letters

    def _queue_for_digest(self, delivery: Delivery) -> None:
        key = f"{alert_key(delivery.decision, delivery.route)}|digest"
        if self.store.completed(key):
            return
        entry = DigestEntry(key, delivery.decision.model_dump_json().encode(), self.now())
        self.store.add_digest_entry(delivery.route, entry)
        self.store.complete(key, self.now())  # the entry is persisted: it will be sent

    def _deliver(
        self, delivery: Delivery, inbound: Inbound, channel: ChannelFactory
    ) -> Outbound | None:
        notification = render_decision(
            delivery.decision, delivery.message_id, self.case_url_template
        )
        decision = delivery.decision
        error = self._send_once(
            channel,
            delivery.key,
            delivery.route,
            delivery.channel,
            notification,
            case_id=decision.case_id,
            program_id=decision.program_id,
            outcome=decision.outcome.value,
        )
        if error is None:
            return None
        return dead_letter(
            inbound,
            "delivery_failed",
            str(error),
            self.dead_letter_topic,
            "notifier",
            extra=(("dlq_route", delivery.route), ("dlq_channel", delivery.channel)),
        )

    def _send_once(
        self,
        channel: ChannelFactory,
        key: str,
        route: str,
        channel_name: str,
        notification: Notification,
        **ids: str,
    ) -> DeliveryError | None:
        """Send unless already sent; None when sent (or skipped), the error when dead-lettered.

        `ids` (case id, program id, outcome) go into the log lines: delivery threads do not
        see the consumer thread's per-record log context.
        """
        log = get_logger().bind(route=route, channel=channel_name, **ids)
        if not self._claim(key):
            metrics.NOTIFICATIONS.labels(channel_name, "deduplicated").inc()
            log.info("notification_deduplicated")
            return None
        started = time.perf_counter()
        try:
            with self._limit(channel_name):
                deliver_with_retry(
                    channel(route, channel_name),
                    notification,
                    attempts=self.retry.attempts,
                    base_delay_s=self.retry.base_delay_s,
                    max_delay_s=self.retry.max_delay_s,
                    on_retry=lambda attempt, error: self._retried(channel_name, attempt, error),
                    sleep=self.sleep,
                )
        except DeliveryError as error:
            self.store.release(key)
            metrics.NOTIFICATIONS.labels(channel_name, "failed").inc()
            metrics.NOTIFICATIONS.labels(channel_name, "dead_lettered").inc()
            log.warning("notification_dead_lettered", error=str(error))
            return error
        self.store.complete(key, self.now())
        seconds = time.perf_counter() - started
        metrics.NOTIFICATIONS.labels(channel_name, "sent").inc()
        metrics.DELIVERY_SECONDS.labels(channel_name).observe(seconds)
        log.info("notification_sent", message_id=notification.message_id, seconds=round(seconds, 4))
        return None

    def _claim(self, key: str) -> bool:
        """Own `key`, or learn it was sent; wait while another live instance has it in flight."""
        deadline = time.monotonic() + self.retry.claim_wait_s
        while not self.store.claim(key, self.instance, self.now(), self.retry.stale_after_s):
            if self.store.completed(key):
                return False
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"dedup key {key} still in flight at another live notifier instance after "
                    f"{self.retry.claim_wait_s:g} s; the record is retried"
                )
            self.sleep(0.2)
        return True

    def beat(self) -> None:
        """Write this instance's heartbeat (call every second or so, from any thread)."""
        self.store.heartbeat(self.instance, self.now())

    def _retried(self, channel_name: str, attempt: int, error: DeliveryError) -> None:
        metrics.NOTIFICATIONS.labels(channel_name, "failed").inc()
        metrics.NOTIFICATIONS.labels(channel_name, "retried").inc()
        get_logger().info(
            "notification_retry", channel=channel_name, attempt=attempt, error=str(error)
        )

    def _limit(self, channel_name: str) -> threading.Semaphore:
        return self._limits.setdefault(channel_name, threading.Semaphore(self.per_channel_limit))

    def _digest_letter(
        self, route: str, channel_name: str, notification: Notification, error: DeliveryError
    ) -> Outbound:
        record = WireRecord(
            route.encode(),
            notification.payload,
            (
                ("dlq_reason", b"delivery_failed"),
                ("dlq_error", str(error).encode()[:4000]),
                ("dlq_route", route.encode()),
                ("dlq_channel", channel_name.encode()),
                ("dlq_service", b"notifier"),
                ("content-type", b"application/json"),
            ),
        )
        return Outbound(self.dead_letter_topic, record)
