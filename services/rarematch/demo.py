"""`make demo`: a real broker, both services, a loopback SMTP server that prints what it receives.

Everything runs on 127.0.0.1, with a fresh broker state in `var/demo/kafka`, and is stopped
on exit, on Ctrl-C and on SIGTERM as well.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import yaml

from rarematch import localkafka
from rarematch.common.contracts import Case, Outcome
from rarematch.common.contracts.cloudevents import parse_body
from rarematch.common.kafka.admin import ensure_topics
from rarematch.common.settings import DemoSettings, KafkaSettings
from rarematch.eligibility.domain.evaluate import evaluate
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from rarematch.eligibility.rulebook.store import load_rules
from rarematch.mailcatcher import catch_mail, email_text
from rarematch.notifier.adapters.routing_file import ROUTING_FILE, load_routing
from rarematch.notifier.domain.delivery import deliveries_for
from rarematch.ports import free_port
from rarematch.publish import case_files, publish_cases
from rarematch.webhook_receiver import ReceivedWebhook, new_webhook_secret, receive_webhooks

__all__ = ["run_demo"]

DEMO_WEBHOOK_ROUTE = "molecular-tumour-board"
DEMO_SECRET_ENV = "RAREMATCH_DEMO_WEBHOOK_SECRET"  # noqa: S105 - a variable name, not a secret
SERVICES = ("eligibility", "notifier")


def run_demo(
    rules_dir: Path,
    cases_dir: Path,
    log_dir: Path,
    settings: DemoSettings,
    timeout_s: float = 120.0,
) -> int:
    """Run the whole flow once; return 0 when every expected notification arrived."""
    signal.signal(signal.SIGTERM, _interrupt)
    files = case_files([cases_dir])
    shutil.rmtree(log_dir, ignore_errors=True)  # a fresh broker, store and rules copy each run
    log_dir.mkdir(parents=True)
    secret = new_webhook_secret()
    with ExitStack() as stack:
        port = settings.demo_kafka_port
        broker = localkafka.BrokerConfig(
            port=port,
            controller_port=port + 1,
            cache_dir=settings.cache_dir,
            state_dir=log_dir / "kafka",
        )
        bootstrap = stack.enter_context(_broker(broker))
        inbox = stack.enter_context(catch_mail(on_message=_print_email))
        _say(f"SMTP server listening on 127.0.0.1:{inbox.port}")
        hooks = stack.enter_context(receive_webhooks(secret, on_message=_print_webhook))
        _say(f"webhook receiver (verifies Standard Webhooks signatures) on {hooks.url}")
        demo_rules = _demo_rules(rules_dir, log_dir / "rules", hooks.url)
        emails, webhooks = _expected_deliveries(demo_rules, files)
        kafka = KafkaSettings(kafka_bootstrap=bootstrap)
        ensure_topics(kafka)
        env = _service_env(bootstrap, inbox.port, demo_rules, log_dir)
        for service in SERVICES:
            # Only the notifier signs webhooks, so only it is given the secret.
            service_env = env | {DEMO_SECRET_ENV: secret} if service == "notifier" else env
            stack.enter_context(_service(service, service_env, log_dir / f"{service}.log"))
        ids = publish_cases(files, bootstrap, kafka.cases_topic, "submitted")
        _say(f"published {len(ids)} sample cases; expecting {emails} emails, {webhooks} webhooks")
        got_emails = len(inbox.wait_for(emails, timeout_s))
        got_webhooks = len(hooks.wait_for(webhooks, timeout_s))
        _say(
            f"received {got_emails}/{emails} emails and {got_webhooks}/{webhooks} signed webhooks "
            f"({hooks.rejected} rejected); service logs in {log_dir}/"
        )
        return 0 if (got_emails, got_webhooks) == (emails, webhooks) else 1


def _demo_rules(rules_dir: Path, copy: Path, webhook_url: str) -> Path:
    """The shipped rules, with the molecular tumour board also subscribed by signed webhook."""
    shutil.copytree(rules_dir, copy)
    routing = yaml.safe_load((copy / ROUTING_FILE).read_text(encoding="utf-8"))
    routing["routes"][DEMO_WEBHOOK_ROUTE]["webhook"] = {
        "url": webhook_url,
        "secret_env": DEMO_SECRET_ENV,
    }
    (copy / ROUTING_FILE).write_text(yaml.safe_dump(routing, sort_keys=False), encoding="utf-8")
    return copy


def _expected_deliveries(rules_dir: Path, files: list[Path]) -> tuple[int, int]:
    """How many emails and webhooks the shipped rules and routes owe the sample cases."""
    rules = load_rules(rules_dir, bundled_oncotree())
    routing = load_routing(rules_dir)
    now = datetime.now(UTC)
    try:
        channels = [
            delivery.channel
            for file in files
            for decision in evaluate(parse_body(Case, file.read_bytes()), rules, now)
            if decision.outcome is not Outcome.INELIGIBLE
            for delivery in deliveries_for(decision, routing)
        ]
    finally:
        rules.engine.close()
    return channels.count("email"), channels.count("webhook")


@contextmanager
def _broker(config: localkafka.BrokerConfig) -> Iterator[str]:
    status = localkafka.up(config, say=_say)
    try:
        yield status.bootstrap
    finally:
        localkafka.down(config, say=_say)


def _service_env(bootstrap: str, smtp_port: int, rules_dir: Path, log_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "RAREMATCH_KAFKA_BOOTSTRAP": bootstrap,
        "RAREMATCH_RULES_DIR": str(rules_dir.resolve()),
        "RAREMATCH_NOTIFIER_STORE_PATH": str((log_dir / "notifier.sqlite3").resolve()),
        "RAREMATCH_SMTP_HOST": "127.0.0.1",
        "RAREMATCH_SMTP_PORT": str(smtp_port),
        "RAREMATCH_ELIGIBILITY_METRICS_PORT": str(free_port()),
        "RAREMATCH_NOTIFIER_METRICS_PORT": str(free_port()),
    }


@contextmanager
def _service(name: str, env: dict[str, str], log_file: Path) -> Iterator[None]:
    metrics_port = env[f"RAREMATCH_{name.upper()}_METRICS_PORT"]
    with log_file.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", f"rarematch.{name}"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        _say(f"started {name} (pid {process.pid}, metrics http://127.0.0.1:{metrics_port}/metrics)")
        try:
            yield
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            _say(f"stopped {name} (exit {process.returncode})")


def _print_email(message: EmailMessage) -> None:
    print(
        f"\n----- email to {message['To']}\nSubject: {message['Subject']}\n\n{email_text(message)}",
        flush=True,
    )


def _print_webhook(received: ReceivedWebhook) -> None:
    body = received.payload
    print(
        f"\n----- signed webhook {received.headers.get('webhook-id')} (signature verified)\n"
        f"{body.get('case_id')} {body.get('outcome')} for {body.get('program_id')}",
        flush=True,
    )


def _interrupt(signum: int, _: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _say(text: str) -> None:
    print(f"[demo] {text}", flush=True)
