"""`make demo`: a real broker, both services, a loopback SMTP server that prints what it receives.

Everything runs on 127.0.0.1, with a fresh broker state in `var/demo/kafka`, and is stopped
on exit, on Ctrl-C and on SIGTERM as well.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from eligibility.domain.evaluate import evaluate
from eligibility.domain.oncotree import bundled_oncotree
from eligibility.rulebook.store import load_rules
from rarematch import localkafka
from rarematch.mailcatcher import catch_mail, email_text
from rarematch.publish import case_files, publish_cases
from rarematch_common.contracts import Case, Outcome
from rarematch_common.kafka.admin import ensure_topics
from rarematch_common.settings import KafkaSettings

__all__ = ["run_demo"]

DEMO_KAFKA_PORT = 19092
SERVICES = ("eligibility", "notifier")


def run_demo(rules_dir: Path, cases_dir: Path, log_dir: Path, timeout_s: float = 120.0) -> int:
    """Run the whole flow once; return 0 when every expected notification arrived."""
    signal.signal(signal.SIGTERM, _interrupt)
    files = case_files([cases_dir])
    expected = _expected_notifications(rules_dir, files)
    log_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        state = log_dir / "kafka"  # a fresh broker each run: no offsets or cases left over
        shutil.rmtree(state, ignore_errors=True)
        port = int(os.environ.get("RAREMATCH_DEMO_KAFKA_PORT", DEMO_KAFKA_PORT))
        broker = localkafka.BrokerConfig(port=port, controller_port=port + 1, state_dir=state)
        bootstrap = stack.enter_context(_broker(broker))
        inbox = stack.enter_context(catch_mail(on_message=_print_email))
        _say(f"SMTP server listening on 127.0.0.1:{inbox.port}")
        settings = KafkaSettings(kafka_bootstrap=bootstrap)
        ensure_topics(settings)
        env = _service_env(bootstrap, inbox.port, rules_dir)
        for service in SERVICES:
            stack.enter_context(_service(service, env, log_dir / f"{service}.log"))
        ids = publish_cases(files, bootstrap, settings.cases_topic, "submitted")
        _say(f"published {len(ids)} sample cases; expecting {expected} notifications")
        received = len(inbox.wait_for(expected, timeout_s))
        _say(f"{received} of {expected} notifications received; service logs in {log_dir}/")
        return 0 if received >= expected else 1


def _expected_notifications(rules_dir: Path, files: list[Path]) -> int:
    rules = load_rules(rules_dir, bundled_oncotree())
    now = datetime.now(UTC)
    try:
        return sum(
            decision.outcome is not Outcome.INELIGIBLE
            for file in files
            for decision in evaluate(Case.model_validate_json(file.read_bytes()), rules, now)
        )
    finally:
        rules.engine.close()


@contextmanager
def _broker(config: localkafka.BrokerConfig) -> Iterator[str]:
    status = localkafka.up(config, say=_say)
    try:
        yield status.bootstrap
    finally:
        localkafka.down(config, say=_say)


def _service_env(bootstrap: str, smtp_port: int, rules_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "RAREMATCH_KAFKA_BOOTSTRAP": bootstrap,
        "RAREMATCH_RULES_DIR": str(rules_dir.resolve()),
        "RAREMATCH_SMTP_HOST": "127.0.0.1",
        "RAREMATCH_SMTP_PORT": str(smtp_port),
        "RAREMATCH_ELIGIBILITY_METRICS_PORT": str(_free_port()),
        "RAREMATCH_NOTIFIER_METRICS_PORT": str(_free_port()),
    }


@contextmanager
def _service(name: str, env: dict[str, str], log_file: Path) -> Iterator[None]:
    metrics_port = env[f"RAREMATCH_{name.upper()}_METRICS_PORT"]
    with log_file.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", name], env=env, stdout=log, stderr=subprocess.STDOUT
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


def _interrupt(signum: int, _: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _say(text: str) -> None:
    print(f"[demo] {text}", flush=True)
