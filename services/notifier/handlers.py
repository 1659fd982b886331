"""What the notifier does with each match event: route, render, deliver, log."""

from __future__ import annotations

import time
from typing import Protocol

from notifier.domain.render import Message, render_email
from notifier.domain.routing import Routing, recipients
from rarematch_common import metrics
from rarematch_common.contracts import MatchDecided
from rarematch_common.contracts.cloudevents import Envelope
from rarematch_common.kafka.records import Inbound, Outbound
from rarematch_common.logging import get_logger

__all__ = ["Notifier", "handle_match_event", "on_match_decided"]


class Notifier(Protocol):
    def send(self, recipients: list[str], message: Message) -> None: ...


def on_match_decided(decision: MatchDecided, routing: Routing, email: Notifier) -> None:
    """Email the program's coordinators; a failure propagates so the record is retried."""
    to = recipients(decision, routing)
    started = time.perf_counter()
    try:
        email.send(to, render_email(decision))
    except Exception:
        metrics.NOTIFICATIONS.labels("email", "failed").inc()
        get_logger().exception(
            "notification_failed", channel="email", program_id=decision.program_id
        )
        raise
    metrics.NOTIFICATIONS.labels("email", "sent").inc()
    get_logger().info(
        "notification_sent",
        channel="email",
        program_id=decision.program_id,
        outcome=decision.outcome.value,
        recipients=len(to),
        rules_version=decision.rules_version,
        seconds=round(time.perf_counter() - started, 4),
    )


def handle_match_event(
    envelope: Envelope, inbound: Inbound, *, routing: Routing, email: Notifier
) -> list[Outbound]:
    assert isinstance(envelope.body, MatchDecided)
    on_match_decided(envelope.body, routing, email)
    return []
