"""The notifier's core with fakes: routing, fallbacks, dedup, lifecycle, retries, digests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rarematch.common.contracts import MatchDecided
from rarematch.common.contracts.cloudevents import decode, encode
from rarematch.common.kafka.records import Inbound
from rarematch.notifier.adapters.memory_store import MemoryStore
from rarematch.notifier.dispatch import Dispatcher, RetryPolicy
from rarematch.notifier.domain.claims import Instance
from rarematch.notifier.domain.delivery import Delivery
from rarematch.notifier.domain.routing import Routing, routes_for
from rarematch.notifier.ports import Notification
from tests.fakes import FakeChannel

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def decision(case_id: str = "case-1", outcome: str = "eligible", **extra: Any) -> MatchDecided:
    return MatchDecided.model_validate(
        {
            "case_id": case_id,
            "program_id": "NCT04044768",
            "program_title": "Afami-cel",
            "routes": ["sarcoma"],
            "outcome": outcome,
            "criteria": [],
            "rules_version": "sha256:x",
            "decided_at": NOW,
            **extra,
        }
    )


ROUTING = Routing.model_validate(
    {
        "default_route": "navigation",
        "by_area": {"paediatric": "paediatric"},
        "by_country": {"CN": "asia"},
        "routes": {
            "navigation": {"email": ["nav@example.org"]},
            "sarcoma": {
                "email": ["sarcoma@example.org"],
                "webhook": {"url": "https://hooks.example.org/x", "secret_env": "X"},
                "outcomes": ["eligible", "revoked"],
            },
            "paediatric": {"email": ["paeds@example.org"]},
            "asia": {"email": ["asia@example.org"]},
            "digest": {"email": ["digest@example.org"], "mode": "digest", "digest_window": 60},
        },
    }
)


class Harness:
    def __init__(
        self,
        routing: Routing = ROUTING,
        *,
        store: MemoryStore | None = None,
        instance: Instance | None = None,
        **failing: FakeChannel,
    ) -> None:
        self.channels: dict[tuple[str, str], FakeChannel] = {}
        self.failing = failing
        self.store = store or MemoryStore()
        self.clock = NOW
        self.waits: list[float] = []
        self.dispatcher = Dispatcher(
            routing=routing,
            channel=self.channel,
            store=self.store,
            executor=ThreadPoolExecutor(4),
            dead_letter_topic="notifications.DLT",
            now=lambda: self.clock,
            retry=RetryPolicy(
                attempts=3, base_delay_s=0.01, max_delay_s=0.01, claim_wait_s=1, stale_after_s=5
            ),
            sleep=self.waits.append,
            **({"instance": instance} if instance else {}),
        )

    def channel(self, route: str, name: str) -> FakeChannel:
        key = (route, name)
        if key not in self.channels:
            self.channels[key] = self.failing.get(name) or FakeChannel(name)
        return self.channels[key]

    def handle(self, *decisions: MatchDecided) -> list[Any]:
        batch = []
        for offset, d in enumerate(decisions):
            record = encode("rarematch.match.decided", d, key=d.case_id, source="/t")
            envelope = decode(record, frozenset({"rarematch.match.decided"}))
            batch.append((envelope, Inbound("matches", 0, offset, record)))
        return self.dispatcher.handle_batch(batch)

    def sent(self, route: str, name: str) -> int:
        channel = self.channels.get((route, name))
        return len(channel.sent) if channel else 0


def test_program_routes_then_area_then_country_then_default() -> None:
    assert routes_for(decision(), ROUTING) == ["sarcoma"]
    unknown = {"routes": ["no-such-team"]}
    assert routes_for(decision(**unknown, program_area="paediatric"), ROUTING) == ["paediatric"]
    assert routes_for(decision(**unknown, site_countries=["US", "CN"]), ROUTING) == ["asia"]
    assert routes_for(decision(**unknown), ROUTING) == ["navigation"]


def test_a_route_only_gets_the_outcomes_it_asked_for() -> None:
    assert routes_for(decision(outcome="needs_info"), ROUTING) == []
    assert routes_for(decision(outcome="revoked"), ROUTING) == ["sarcoma"]


def test_each_channel_of_a_route_alerts_once_even_when_the_match_repeats() -> None:
    harness = Harness()
    assert harness.handle(decision(), decision()) == []
    assert harness.handle(decision()) == []
    assert harness.sent("sarcoma", "email") == 1
    assert harness.sent("sarcoma", "webhook") == 1


def test_a_changed_outcome_alerts_again() -> None:
    harness = Harness()
    harness.handle(decision(outcome="eligible"))
    harness.handle(decision(outcome="revoked"))
    subjects = [n.subject for n in harness.channels[("sarcoma", "email")].sent]
    assert subjects == [
        "[rarematch] Case case-1: eligible for NCT04044768",
        "[rarematch] Case case-1: no longer eligible for NCT04044768",
    ]


def test_a_failing_channel_is_retried_then_dead_lettered_and_the_others_still_deliver() -> None:
    harness = Harness(webhook=FakeChannel("webhook", always_fail=True))
    [letter] = harness.handle(decision())
    headers = dict(letter.record.headers)
    assert headers["dlq_channel"] == b"webhook"
    assert headers["dlq_route"] == b"sarcoma"
    assert harness.channels[("sarcoma", "webhook")].attempts == 3
    assert harness.sent("sarcoma", "email") == 1
    # released, not completed: a replay of the dead letter may deliver it
    assert not harness.store.completed("case-1|NCT04044768|eligible|sarcoma|webhook")


def test_a_transient_failure_is_retried_and_delivered_once() -> None:
    harness = Harness(email=FakeChannel("email", failures=2))
    assert harness.handle(decision()) == []
    assert harness.sent("sarcoma", "email") == 1
    assert harness.channels[("sarcoma", "email")].attempts == 3


@pytest.mark.parametrize("repeat", [1, 2])
def test_a_digest_route_sends_one_message_once_its_window_has_passed(repeat: int) -> None:
    routing = ROUTING.model_copy(update={"default_route": "digest"})
    harness = Harness(routing)
    unrouted = {"routes": []}
    for _ in range(repeat):
        harness.handle(decision("a", **unrouted), decision("b", **unrouted))
    assert harness.dispatcher.flush_digests() == []
    assert harness.sent("digest", "email") == 0, "the window has not passed"
    harness.clock = NOW + timedelta(seconds=61)
    harness.dispatcher.flush_digests()
    harness.dispatcher.flush_digests()
    [digest] = harness.channels[("digest", "email")].sent
    assert digest.subject == "[rarematch] Digest for digest: 2 decision(s)"
    assert "  - NCT04044768  eligible: 2" in digest.text


class Killed(BaseException):
    """The process died between the channel accepting a message and the claim's completion."""


class DiesAfterSending(FakeChannel):
    def send(self, notification: Notification) -> None:
        super().send(notification)
        raise Killed


def killed_while_sending(store: MemoryStore, instance: Instance) -> Notification:
    """An incarnation of `instance` that sent the sarcoma email and died before completing."""
    first = Harness(store=store, instance=instance, email=DiesAfterSending("email"))
    first.dispatcher.beat()
    with pytest.raises(Killed):
        first.handle(decision())
    [sent] = first.channels[("sarcoma", "email")].sent
    assert not store.completed(Delivery(decision(), "sarcoma", "email").key)
    return sent


def test_a_restarted_instance_takes_its_claims_over_at_once_and_resends_the_same_id() -> None:
    store = MemoryStore()
    before = killed_while_sending(store, Instance("notifier-a", "epoch-1"))
    restarted = Harness(store=store, instance=Instance("notifier-a", "epoch-2"))
    restarted.dispatcher.beat()
    assert restarted.handle(decision()) == []
    [again] = restarted.channels[("sarcoma", "email")].sent
    assert again.message_id == before.message_id  # the receiver can drop the repeat
    assert again.message_id == Delivery(decision(), "sarcoma", "email").message_id
    assert restarted.waits == []  # taken over without waiting
    restarted.handle(decision())
    assert restarted.sent("sarcoma", "email") == 1  # and completed now


def test_another_instance_waits_for_a_live_holder_and_takes_over_once_it_is_silent() -> None:
    store = MemoryStore()
    holder = Instance("notifier-a", "epoch-1")
    before = killed_while_sending(store, holder)
    other = Harness(store=store, instance=Instance("notifier-b", "epoch-1"))
    store.heartbeat(holder, NOW)  # still beating: its delivery may be in flight
    with pytest.raises(TimeoutError, match="another live notifier instance"):
        other.handle(decision())
    assert other.sent("sarcoma", "email") == 0
    other.clock = NOW + timedelta(seconds=6)  # the holder's heartbeat is now 6 s old
    assert other.handle(decision()) == []
    [again] = other.channels[("sarcoma", "email")].sent
    assert again.message_id == before.message_id
