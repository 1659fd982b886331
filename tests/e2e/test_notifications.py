"""The notifier on the real broker with real SMTP, HTTP and PostgreSQL peers on loopback."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from rarematch.common.contracts import MATCH_DECIDED, MatchDecided
from rarematch.common.contracts.cloudevents import encode
from rarematch.common.kafka.admin import ensure_topics
from rarematch.common.settings import NotifierSettings
from rarematch.mailcatcher import catch_mail, email_text
from rarematch.notifier.bootstrap import bootstrap
from rarematch.ports import free_port
from rarematch.webhook_receiver import new_webhook_secret, receive_webhooks
from tests.e2e.conftest import read_topic, running
from tests.waiting import metric, settled, wait_until

pytestmark = pytest.mark.kafka
SECRET_ENV = "RAREMATCH_TEST_WEBHOOK_SECRET"


def decision(
    case_id: str, program_id: str = "NCT04044768", outcome: str = "eligible"
) -> MatchDecided:
    return MatchDecided.model_validate(
        {
            "case_id": case_id,
            "program_id": program_id,
            "program_title": f"Program {program_id}",
            "routes": ["team"],
            "outcome": outcome,
            "criteria": [
                {"criterion_id": "hla", "section": "inclusion", "status": "met", "text": "HLA-A*02"}
            ],
            "rules_version": "sha256:test",
            "decided_at": datetime(2026, 11, 27, tzinfo=UTC),
        }
    )


def routing_yaml(team: str) -> str:
    return f"default_route: team\nroutes:\n  team:\n{team}"


def settings_for(
    bootstrap_servers: str, rules: Path, smtp_port: int, **extra: Any
) -> NotifierSettings:
    run = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {
        "kafka_bootstrap": bootstrap_servers,
        "matches_topic": f"n{run}.matches",
        "matches_dead_letter_topic": f"n{run}.matches.DLT",
        "notifications_dead_letter_topic": f"n{run}.notifications.DLT",
        "notifier_group": f"notifier-{run}",
        "rules_dir": rules,
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "notifier_store_path": rules.parent / f"store-{run}.sqlite3",
        "retry_attempts": 3,
        "retry_base_delay_s": 0.05,
        "retry_max_delay_s": 0.2,
        "case_url_template": "https://navigator.example.org/cases/{case_id}",
    }
    return NotifierSettings(**(values | extra))


def rules_dir(tmp_path: Path, routing: str) -> Path:
    rules = tmp_path / "rules"
    (rules / "programs").mkdir(parents=True)  # the notifier validates the whole directory
    (rules / "routing.yaml").write_text(routing)
    return rules


def publish(settings: NotifierSettings, decisions: list[MatchDecided]) -> None:
    ensure_topics(settings, [settings.notifications_dead_letter_topic])
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    for d in decisions:
        record = encode(MATCH_DECIDED, d, key=d.case_id, source="/test")
        producer.send(
            settings.matches_topic, key=record.key, value=record.value, headers=list(record.headers)
        )
    producer.flush()
    producer.close()


def settled_all(settings: NotifierSettings) -> bool:
    """The notifier committed every match: whatever it would send for them is sent."""
    return settled(settings.kafka_bootstrap, settings.notifier_group, settings.matches_topic)


@contextmanager
def notifier(settings: NotifierSettings) -> Iterator[None]:
    with running(bootstrap(settings)[0]):
        yield


def test_the_same_match_delivered_twice_alerts_once_per_channel(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = new_webhook_secret()
    monkeypatch.setenv(SECRET_ENV, secret)
    with catch_mail() as mail, receive_webhooks(secret) as hooks:
        team = (
            "    email: [team@coordinators.example.org]\n"
            f"    webhook: {{url: '{hooks.url}', secret_env: {SECRET_ENV}}}\n"
        )
        settings = settings_for(kafka_bootstrap, rules_dir(tmp_path, routing_yaml(team)), mail.port)
        match = decision("case-dup-1")
        publish(settings, [match, match])
        with notifier(settings):
            emails = mail.wait_for(1, 30)
            hooks.wait_for(1, 30)
            publish(settings, [match])  # and once more, after the first was sent
            wait_until(lambda: settled_all(settings), 30, "the notifier committed every match")
        assert len(mail.messages) == 1
        assert len(hooks.received) == 1
        assert hooks.rejected == 0
    text = email_text(emails[0])
    assert "Outcome:  eligible" in text
    assert "https://navigator.example.org/cases/case-dup-1" in text
    payload = hooks.received[0].payload
    assert payload == json.loads(match.model_dump_json())
    assert hooks.received[0].headers["webhook-id"].startswith("msg_")


def test_smtp_down_then_up_is_delivered_after_retry(kafka_bootstrap: str, tmp_path: Path) -> None:
    port = free_port()
    team = "    email: [team@coordinators.example.org]\n"
    settings = settings_for(
        kafka_bootstrap,
        rules_dir(tmp_path, routing_yaml(team)),
        port,
        retry_attempts=30,
        retry_base_delay_s=0.1,
        retry_max_delay_s=0.3,
    )
    publish(settings, [decision("case-smtp-1")])
    retried = metric("rarematch_notifications_total", channel="email", result="retried")
    with notifier(settings):
        wait_until(
            lambda: (
                metric("rarematch_notifications_total", channel="email", result="retried") > retried
            ),
            30,
            "a delivery attempt that met the closed port",
        )
        with catch_mail(port=port) as mail:
            delivered = mail.wait_for(1, 30)
    assert len(delivered) == 1
    assert "case-smtp-1" in delivered[0]["Subject"]


def test_a_dead_webhook_is_dead_lettered_while_the_email_is_delivered(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = new_webhook_secret()
    monkeypatch.setenv(SECRET_ENV, secret)
    with catch_mail() as mail, receive_webhooks(secret, status=500) as hooks:
        team = (
            "    email: [team@coordinators.example.org]\n"
            f"    webhook: {{url: '{hooks.url}', secret_env: {SECRET_ENV}}}\n"
        )
        settings = settings_for(kafka_bootstrap, rules_dir(tmp_path, routing_yaml(team)), mail.port)
        publish(settings, [decision("case-hook-1")])
        with notifier(settings):
            assert len(mail.wait_for(1, 30)) == 1
            dead = read_topic(
                kafka_bootstrap, settings.notifications_dead_letter_topic, lambda rs: bool(rs)
            )
        assert hooks.requests == settings.retry_attempts, "the retry budget was used, no more"
    [letter] = dead
    headers = dict(letter.headers)  # type: ignore[attr-defined]
    assert headers["dlq_reason"] == b"delivery_failed"
    assert headers["dlq_channel"] == b"webhook"
    assert headers["dlq_route"] == b"team"
    assert b"500" in headers["dlq_error"]
    assert json.loads(letter.value)["case_id"] == "case-hook-1"  # type: ignore[attr-defined]


def test_a_digest_route_sends_one_message_with_counts(kafka_bootstrap: str, tmp_path: Path) -> None:
    team = "    mode: digest\n    digest_window: 2\n    email: [digest@coordinators.example.org]\n"
    with catch_mail() as mail:
        settings = settings_for(kafka_bootstrap, rules_dir(tmp_path, routing_yaml(team)), mail.port)
        publish(
            settings,
            [
                decision("case-dig-1"),
                decision("case-dig-2"),
                decision("case-dig-3", outcome="needs_info"),
                decision("case-dig-4", program_id="NCT05909527"),
            ],
        )
        with notifier(settings):
            [digest] = mail.wait_for(1, 30)
            wait_until(
                lambda: settled_all(settings) and not _queued(settings),
                30,
                "every decision consumed and none left queued for a second digest",
            )
        assert len(mail.messages) == 1
    assert digest["Subject"] == "[rarematch] Digest for team: 4 decision(s)"
    text = email_text(digest)
    assert "  - NCT04044768  eligible: 2" in text
    assert "  - NCT04044768  possibly eligible - needs data: 1" in text
    assert "  - NCT05909527  eligible: 1" in text
    for case_id in ("case-dig-1", "case-dig-2", "case-dig-3", "case-dig-4"):
        assert case_id in text


def test_pending_digest_entries_survive_a_restart(kafka_bootstrap: str, tmp_path: Path) -> None:
    team = "    mode: digest\n    digest_window: 4\n    email: [digest@coordinators.example.org]\n"
    with catch_mail() as mail:
        settings = settings_for(kafka_bootstrap, rules_dir(tmp_path, routing_yaml(team)), mail.port)
        publish(settings, [decision("case-rst-1"), decision("case-rst-2")])
        with notifier(settings):
            wait_until(
                lambda: settings.notifier_store_path.exists() and _queued(settings),
                30,
                "entries queued for the digest",
            )
        assert mail.messages == [], "stopped before the window closed"
        with notifier(settings):
            [digest] = mail.wait_for(1, 30)
    assert "2 decision(s)" in digest["Subject"]


def _queued(settings: NotifierSettings) -> int:
    from rarematch.notifier.adapters.store import open_store

    store = open_store(None, settings.notifier_store_path)
    try:
        return len(store.digest_entries("team"))
    finally:
        store.close()


def test_two_instances_on_postgresql_alert_once_per_match(
    kafka_bootstrap: str, tmp_path: Path, postgres_url: str
) -> None:
    from tests.postgres import postgres_schema

    team = "    email: [team@coordinators.example.org]\n"
    with catch_mail() as mail, postgres_schema(postgres_url) as database:
        settings = settings_for(
            kafka_bootstrap,
            rules_dir(tmp_path, routing_yaml(team)),
            mail.port,
            notifier_database_url=database,
        )
        matches = [decision(f"case-pg-{n}") for n in range(24)]
        publish(settings, matches + matches[:8])  # eight arrive twice
        with ExitStack() as both:  # two instances: each its own id (claims, static membership)
            for name in ("pg-a", "pg-b"):
                both.enter_context(
                    notifier(settings.model_copy(update={"notifier_instance_id": name}))
                )
            mail.wait_for(24, 60)
            wait_until(lambda: settled_all(settings), 30, "both instances committed every match")
    subjects = sorted(m["Subject"] for m in mail.messages)
    assert len(subjects) == 24, f"{len(subjects)} alerts for 24 matches"
    assert len(set(subjects)) == 24


def test_revocations_follow_sent_alerts_only_and_respect_on_revoked(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    # `quiet` is the default route: routing the revocations by their own (empty) routes would
    # send them there; they must go to `team` only, which was alerted.
    routing = (
        "default_route: quiet\nroutes:\n"
        "  team:\n    email: [team@coordinators.example.org]\n"
        "  quiet:\n    email: [quiet@coordinators.example.org]\n    on_revoked: false\n"
    )

    def changed(case_id: str, routes: list[str], **update: str) -> MatchDecided:
        body = decision(case_id).model_dump(mode="json") | {"routes": routes} | update
        return MatchDecided.model_validate(body)

    gone = {"outcome": "revoked", "previous_outcome": "eligible", "criteria": []}
    with catch_mail() as mail:
        settings = settings_for(kafka_bootstrap, rules_dir(tmp_path, routing), mail.port)
        alerted = changed("case-rev-1", ["team", "quiet"])
        removed = {"change": "program_removed", "program_title": "NCT04044768"}
        revoked = changed("case-rev-1", [], **gone, **removed)
        never_alerted = changed("case-rev-2", ["team", "quiet"], **gone, change="case_withdrawn")
        publish(settings, [alerted])
        with notifier(settings):
            mail.wait_for(2, 30)  # team and quiet
            publish(settings, [never_alerted, revoked])
            emails = mail.wait_for(3, 30)
            wait_until(lambda: settled_all(settings), 30, "the notifier committed every match")
        assert len(mail.messages) == 3
    last = emails[-1]
    assert "team@coordinators.example.org" in str(last["To"])
    assert "case-rev-1" in str(last["Subject"])
    assert "no longer eligible" in str(last["Subject"])
    text = email_text(last)
    assert "the program was removed from the rules" in text
    assert "It was: eligible." in text
