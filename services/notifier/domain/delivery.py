"""What the notifier owes: one delivery per decision x route x channel, with a stable key."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from rarematch.common.contracts import MatchDecided
from rarematch.notifier.domain.routing import Routing, routes_for

__all__ = ["Delivery", "alert_key", "deliveries_for"]


def alert_key(decision: MatchDecided, route: str) -> str:
    """At most one alert per case x program x outcome per route: this is that identity."""
    return f"{decision.case_id}|{decision.program_id}|{decision.outcome.value}|{route}"


@dataclass(frozen=True)
class Delivery:
    decision: MatchDecided
    route: str
    channel: str
    """email, webhook or apprise."""

    @property
    def key(self) -> str:
        """Dedup key: the alert identity per channel, so a failed channel can be retried alone."""
        return f"{alert_key(self.decision, self.route)}|{self.channel}"

    @property
    def message_id(self) -> str:
        """Stable across redeliveries (the Standard Webhooks `webhook-id`, email Message-ID)."""
        return "msg_" + hashlib.sha256(self.key.encode()).hexdigest()[:32]


def deliveries_for(decision: MatchDecided, routing: Routing) -> list[Delivery]:
    return [
        Delivery(decision, route, channel)
        for route in routes_for(decision, routing)
        for channel in routing.routes[route].channels
    ]
