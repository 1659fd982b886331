"""What the notifier owes: one delivery per decision x route x channel, with a stable key."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from rarematch.common.contracts import ChangeReason, MatchDecided, Outcome
from rarematch.notifier.domain.routing import Routing, revocation_routes, routes_for

__all__ = [
    "Delivery",
    "alert_key",
    "alert_prefix",
    "alerted_route",
    "deliveries_for",
    "revocation_deliveries",
]


def alert_prefix(case_id: str, program_id: str) -> str:
    """What every dedup key of an alert about this case and program starts with."""
    return f"{case_id}|{program_id}|"


def alert_key(decision: MatchDecided, route: str) -> str:
    """At most one alert per case x program x outcome per route: this is that identity.

    A `facts_changed` decision keeps its outcome, so its identity also names the facts to
    collect (hashed): otherwise it would be deduplicated against the first alert."""
    outcome = decision.outcome.value
    if decision.change is ChangeReason.FACTS_CHANGED:
        facts = "\n".join(decision.facts_to_collect).encode()
        outcome += "+" + hashlib.sha256(facts).hexdigest()[:16]
    return f"{alert_prefix(decision.case_id, decision.program_id)}{outcome}|{route}"


def alerted_route(key: str, prefix: str) -> str | None:
    """The route of a sent dedup key starting with `prefix` (`alert_prefix`) when it was an
    alert (eligible / needs_info, immediate or digest), else None (a revocation, a digest)."""
    if not key.startswith(prefix):
        return None
    outcome, sep, rest = key[len(prefix) :].partition("|")
    route, sep2, _channel = rest.rpartition("|")
    if not sep or not sep2 or not route:
        return None
    if outcome.split("+", 1)[0] not in (Outcome.ELIGIBLE.value, Outcome.NEEDS_INFO.value):
        return None
    return route


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


def revocation_deliveries(
    decision: MatchDecided, alerted: Iterable[str], routing: Routing
) -> list[Delivery]:
    """A revoked decision goes only to the routes that were alerted about it (`alerted`)."""
    return [
        Delivery(decision, route, channel)
        for route in revocation_routes(alerted, routing)
        for channel in routing.routes[route].channels
    ]
