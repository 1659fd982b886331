"""kill -9 of the notifier at random moments while match events stream in and a slow SMTP
server (0.2 s a message) holds deliveries in flight: no alert is lost, none arrives under two
Message-IDs, and each restart is delivering again within seconds.

An email whose SMTP conversation the kill cut short may have reached the server anyway; the
restart sends it again under the same Message-ID (its claim is taken over at once). Those
repeats are counted and reported: a receiver that honours Message-ID drops them.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from rarematch.common.contracts import MATCH_DECIDED
from rarematch.common.contracts.cloudevents import encode
from rarematch.common.kafka.admin import ensure_topics
from rarematch.common.settings import NotifierSettings
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from rarematch.mailcatcher import MailCatcher, serve_mail
from rarematch.notifier.adapters.routing_file import load_routing
from rarematch.notifier.adapters.smtp_channel import message_id_header
from rarematch.notifier.domain.delivery import alert_key, deliveries_for
from tests.faults.harness import REPO, Row, ServiceProcess, Stack, sized, wait_until
from tests.faults.test_eligibility_kills import expected_decisions, stream
from tests.synthetic import synthetic_cases
from tests.waiting import settled

RULES = REPO / "rules"
SEED = 909
SMTP_DELAY_S = 0.2


@dataclass(frozen=True)
class Arrival:
    message_id: str
    began: float
    """time.monotonic() when the client began DATA."""
    accepted: float


class SlowMailCatcher(MailCatcher):
    """A real SMTP server that takes `delay_s` over each message, several at once."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s
        self.arrivals: list[Arrival] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        began = time.monotonic()
        await asyncio.sleep(self.delay_s)
        message_id = str(message_from_bytes(envelope.content, policy=policy.default)["Message-ID"])
        with self._lock:
            self.arrivals.append(Arrival(message_id, began, time.monotonic()))
        return await super().handle_DATA(server, session, envelope)

    def received(self) -> list[Arrival]:
        with self._lock:
            return list(self.arrivals)

    def first_begun_after(self, moment: float) -> Arrival | None:
        return next((a for a in self.received() if a.began >= moment), None)

    def all_begun_after(self, moment: float, message_ids: set[str]) -> float | None:
        """When the last of `message_ids` sent after `moment` was accepted (None: not yet)."""
        seen = {a.message_id: a.accepted for a in self.received() if a.began >= moment}
        if not message_ids <= set(seen):
            return None
        return max((seen[m] for m in message_ids), default=moment)


def pending_claims(store: Path) -> list[str]:
    """Keys claimed and not sent: the deliveries the notifier had in flight when it died."""
    with contextlib.closing(sqlite3.connect(store, timeout=10)) as conn:
        rows = conn.execute("SELECT key FROM notifier_claims WHERE status = 'pending'")
        return [key for (key,) in rows]


def test_notifier_killed_during_a_stream_loses_no_alert_and_sends_none_twice(
    kafka_bootstrap: str, tmp_path: Path, reliability: list[Row]
) -> None:
    count, kills = sized(ci=200, full=1000), sized(ci=5, full=8)
    rng = random.Random(SEED)
    cases = synthetic_cases(count, random.Random(SEED), bundled_oncotree())
    decisions = expected_decisions(cases, datetime.now(UTC))
    routing = load_routing(RULES)
    emails = [d for decision in decisions for d in deliveries_for(decision, routing)]
    assert {d.channel for d in emails} == {"email"}
    # Message-ID -> (case, program, outcome, route)
    alert_of = {message_id_header(d.message_id): alert_key(d.decision, d.route) for d in emails}
    id_of_key = {d.key: message_id_header(d.message_id) for d in emails}
    store = tmp_path / "notifier.sqlite3"
    records = [encode(MATCH_DECIDED, d, key=d.case_id, source="/faults") for d in decisions]
    stack = Stack(kafka_bootstrap, uuid.uuid4().hex[:8])
    settings = NotifierSettings(
        kafka_bootstrap=kafka_bootstrap,
        matches_topic=stack.matches,
        matches_dead_letter_topic=stack.matches_dlt,
        notifications_dead_letter_topic=stack.notifications_dlt,
    )
    ensure_topics(settings, [stack.matches, stack.notifications_dlt])
    recover: list[float] = []
    cut_offs: list[int] = []
    resend_s: list[float] = []
    with serve_mail(SlowMailCatcher(SMTP_DELAY_S)) as mail:
        env = stack.env(
            RULES,
            RAREMATCH_SMTP_PORT=str(mail.port),
            RAREMATCH_NOTIFIER_STORE_PATH=str(store),
        )
        notifier = ServiceProcess("notifier", env, tmp_path / "notifier.log")
        notifier.start()
        producer = threading.Thread(
            target=stream,
            args=(kafka_bootstrap, stack.matches, records, sized(ci=6, full=30)),
            daemon=True,
        )
        producer.start()
        try:
            started = time.monotonic()
            for _ in range(kills):
                # kill while deliveries are in flight: once this process has sent something
                wait_until(
                    lambda s=started: mail.first_begun_after(s),  # type: ignore[misc]
                    90,
                    "an email from the running notifier",
                )
                time.sleep(rng.uniform(0.0, 1.5))
                notifier.kill()
                cut_off = {id_of_key[key] for key in pending_claims(store)}
                started = time.monotonic()
                notifier.start()
                # resumed: the new process sends; and every delivery the kill cut off is sent
                # again when the replayed batch reaches it (its claim taken over, not waited
                # out: a 120 s lease used to fail this wait)
                first = wait_until(
                    lambda s=started: mail.first_begun_after(s),  # type: ignore[misc]
                    90,
                    "an email after a restart",
                )
                resent = wait_until(
                    lambda s=started, c=cut_off: mail.all_begun_after(s, c),  # type: ignore[misc]
                    90,
                    "the deliveries a kill cut off, sent again",
                )
                recover.append(first.accepted - started)
                resend_s.append(resent - started)
                cut_offs.append(len(cut_off))
            producer.join(timeout=300)
            wait_until(
                lambda: set(alert_of) <= {a.message_id for a in mail.received()},
                300,
                "every alert at the SMTP server",
            )
            # nothing more can come: the group committed every match event
            wait_until(
                lambda: settled(kafka_bootstrap, stack.notifier_group, stack.matches),
                60,
                "the notifier committed every match",
            )
            notifier.check_alive()
        finally:
            notifier.stop()
    arrivals = [a.message_id for a in mail.received()]
    distinct = set(arrivals)
    unexpected = distinct - set(alert_of)
    ids_per_alert = Counter(alert_of[m] for m in distinct - unexpected)
    twice = sum(n - 1 for n in ids_per_alert.values()) + len(unexpected)
    repeats = len(arrivals) - len(distinct)
    reliability.append(
        Row(
            "notifier: kill -9 during a stream, SMTP 0.2 s a message",
            sent=len(decisions),
            expected=len(alert_of),
            received=len(distinct - unexpected),
            lost=len(set(alert_of) - distinct),
            duplicated=twice,
            crashes=notifier.self_exits,
            recover_s=recover,
            note=(
                f"{kills} kills, {sum(cut_offs)} deliveries in flight at a kill; "
                "emails by Message-ID per (case, program, outcome, route); "
                f"{repeats} resends of a Message-ID the server already had (cut off before "
                "its reply), which a receiver honouring Message-ID drops; recovery: restart "
                "to the first email of the new process; every delivery cut off resent within "
                f"{max(resend_s, default=0):.1f} s of its restart"
            ),
        )
    )
    assert set(alert_of) - distinct == set(), "alerts lost"
    assert unexpected == set(), "emails nobody expected"
    assert twice == 0, "an alert arrived under two Message-IDs"
    assert notifier.self_exits == 0
    assert len(recover) == kills
