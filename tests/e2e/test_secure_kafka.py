"""Authenticated Kafka: `rarematch kafka up --secure` (SASL_SSL, SCRAM-SHA-512, a generated CA);
publish -> eligibility -> notifier -> email with credentials over TLS; a client without
credentials or with a wrong password stops within the connect timeout with one line saying why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rarematch.common.kafka.admin import ensure_topics
from rarematch.common.kafka.security import CONNECT_TIMEOUT_MS, KafkaUnreachable, client_security
from rarematch.common.settings import KafkaSettings
from rarematch.eligibility.bootstrap import bootstrap as bootstrap_eligibility
from rarematch.localkafka import BrokerConfig, BrokerError, client_env, down, up
from rarematch.mailcatcher import MailCatcher
from rarematch.notifier.bootstrap import bootstrap as bootstrap_notifier
from rarematch.ports import free_ports
from rarematch.publish import PublishError, publish_cases
from tests.e2e.conftest import CASES, RULES, running, stack_settings

pytestmark = pytest.mark.kafka

CASE = CASES / "sarcoma-synovial-hla-a0201.json"
BOUND_S = CONNECT_TIMEOUT_MS / 1000 + 20  # the connect timeout, plus start-up of a process


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerConfig]:
    port, controller_port = free_ports(2)
    config = BrokerConfig(
        port=port,
        controller_port=controller_port,
        state_dir=tmp_path_factory.mktemp("secure-kafka"),
        secure=True,
    )
    try:
        up(config, say=lambda msg: print(f"[secure kafka] {msg}"))
    except BrokerError as exc:
        pytest.fail(f"the secure local broker could not start: {exc}", pytrace=False)
    try:
        yield config
    finally:
        down(config, say=lambda msg: print(f"[secure kafka] {msg}"))


def fields(env: dict[str, str]) -> dict[str, str]:
    """`RAREMATCH_KAFKA_USERNAME=…` lines as settings fields (`kafka_username=…`)."""
    return {name.removeprefix("RAREMATCH_").lower(): value for name, value in env.items()}


def wrong_password_file(tmp_path: Path) -> Path:
    path = tmp_path / "wrong.password"
    path.write_text("not-the-password\n")
    return path


def assert_refused_login(line: str, bootstrap: str) -> None:
    """The line names the broker, how it connected, and the credentials as the likely cause.

    The broker answers a wrong password and closes the connection; kafka-python reports the
    answer when it reads it before the close, else only the close."""
    assert "\n" not in line
    prefix = (
        f"cannot connect to Kafka at {bootstrap} with SASL_SSL (SCRAM-SHA-512) as 'rarematch': "
    )
    assert line.startswith(prefix), line
    assert line.removeprefix(prefix) in {
        "authentication failed (wrong user or password); check RAREMATCH_KAFKA_USERNAME and "
        "RAREMATCH_KAFKA_PASSWORD or RAREMATCH_KAFKA_PASSWORD_FILE",
        "the broker closed every connection after it was opened: most likely it refused the "
        "credentials (check RAREMATCH_KAFKA_USERNAME and RAREMATCH_KAFKA_PASSWORD or "
        "RAREMATCH_KAFKA_PASSWORD_FILE), else its listener does not use SASL (check "
        "RAREMATCH_KAFKA_SECURITY_PROTOCOL)",
    }, line


def test_the_secure_broker_refuses_plaintext_and_prints_tls_and_scram_settings(
    secure_broker: BrokerConfig,
) -> None:
    env = client_env(secure_broker)
    assert env["RAREMATCH_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert env["RAREMATCH_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert "RAREMATCH_KAFKA_PASSWORD" not in env, "the password stays in its file"
    assert Path(env["RAREMATCH_KAFKA_CA_FILE"]).read_text().startswith("-----BEGIN CERTIFICATE")
    assert oct(Path(env["RAREMATCH_KAFKA_PASSWORD_FILE"]).stat().st_mode & 0o777) == "0o600"
    printed = subprocess.run(  # `up` on the running broker: it only prints the settings again
        [
            str(Path(sys.executable).with_name("rarematch")),
            "kafka",
            "up",
            "--secure",
            "--port",
            str(secure_broker.port),
            "--state-dir",
            str(secure_broker.state_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("RAREMATCH_KAFKA_")},
    )
    assert printed.stdout.splitlines() == [f"{name}={value}" for name, value in env.items()]
    assert oct(secure_broker.server_properties.stat().st_mode & 0o777) == "0o600"
    properties = secure_broker.server_properties.read_text()
    assert f"listeners=SASL_SSL://127.0.0.1:{secure_broker.port}," in properties
    assert "PLAINTEXT://127.0.0.1" not in properties.replace("CONTROLLER:PLAINTEXT", "")


def test_a_case_flows_to_an_email_over_sasl_ssl(
    secure_broker: BrokerConfig, mail: MailCatcher, tmp_path: Path
) -> None:
    eligibility, notifier = stack_settings(
        fields(client_env(secure_broker)), mail, tmp_path, prefix="s"
    )
    loop, _ = bootstrap_eligibility(eligibility)
    with running(loop), running(bootstrap_notifier(notifier)[0]):
        publish_cases(
            [CASE],
            eligibility.kafka_bootstrap,
            eligibility.cases_topic,
            "submitted",
            security=client_security(eligibility),
        )
        [email] = mail.wait_for(
            1, 60, where=lambda m: "TECELRA-US" in m["Subject"] and "case-sarc-0001" in m["Subject"]
        )
    assert "Outcome:  eligible" in email.get_payload()


def test_publish_with_a_wrong_password_or_none_says_why_in_one_line(
    secure_broker: BrokerConfig, tmp_path: Path
) -> None:
    env = fields(client_env(secure_broker))
    wrong = KafkaSettings(**{**env, "kafka_password_file": str(wrong_password_file(tmp_path))})
    with pytest.raises(PublishError) as raised:
        publish_cases(
            [CASE], wrong.kafka_bootstrap, wrong.cases_topic, "submitted", client_security(wrong)
        )
    assert_refused_login(str(raised.value), secure_broker.bootstrap)
    with pytest.raises(PublishError) as raised:
        publish_cases([CASE], secure_broker.bootstrap, "rarematch.cases", "submitted")
    assert str(raised.value).startswith(
        f"cannot connect to Kafka at {secure_broker.bootstrap} with PLAINTEXT: the broker closed "
        "every connection (it may require TLS or SASL)"
    )
    trusting_only_the_system = client_security(KafkaSettings(**env)) | {"ssl_cafile": None}
    with pytest.raises(PublishError, match="the broker's certificate is not trusted"):
        publish_cases(
            [CASE],
            secure_broker.bootstrap,
            "rarematch.cases",
            "submitted",
            trusting_only_the_system,
        )
    with pytest.raises(KafkaUnreachable, match="PLAINTEXT: the broker closed every connection"):
        ensure_topics(KafkaSettings(kafka_bootstrap=secure_broker.bootstrap))


def test_a_service_with_a_wrong_password_exits_with_one_line_and_never_logs_it(
    secure_broker: BrokerConfig, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAREMATCH_")}
    env |= client_env(secure_broker) | {
        "RAREMATCH_KAFKA_PASSWORD_FILE": str(wrong_password_file(tmp_path)),
        "RAREMATCH_RULES_DIR": str(RULES),
        "RAREMATCH_ELIGIBILITY_METRICS_PORT": "0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "rarematch.eligibility"],
        capture_output=True,
        text=True,
        timeout=BOUND_S + 60,  # rules compile first
        env=env,
        check=False,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    [line] = [line for line in done.stderr.splitlines() if "kafka_unreachable" in line]
    assert_refused_login(json.loads(line)["error"], secure_broker.bootstrap)
    assert "Traceback" not in done.stderr
    assert "not-the-password" not in done.stderr + done.stdout
