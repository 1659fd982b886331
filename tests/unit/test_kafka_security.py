"""Kafka security settings: validated together, one line naming the variables, one set of
client arguments for every client, and the password in no error line."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from rarematch.common.kafka.security import client_security, describe_security
from rarematch.common.settings import KafkaSettings, SettingsError, load_settings

SECRET = "s3cr3t-Pa55"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("RAREMATCH_"):
            monkeypatch.delenv(name)


def load(monkeypatch: pytest.MonkeyPatch, **env: str) -> KafkaSettings:
    for name, value in env.items():
        monkeypatch.setenv(f"RAREMATCH_{name}", value)
    return load_settings(KafkaSettings)


def problems(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    with pytest.raises(SettingsError) as raised:
        load(monkeypatch, **env)
    assert SECRET not in str(raised.value)
    return raised.value.problems


def test_the_default_is_plaintext_with_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    assert client_security(load(monkeypatch)) == {"security_protocol": "PLAINTEXT"}


def test_sasl_ssl_with_scram_gives_every_client_tls_and_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = load(
        monkeypatch,
        KAFKA_SECURITY_PROTOCOL="sasl_ssl",
        KAFKA_USERNAME="svc",
        KAFKA_PASSWORD=SECRET,
        KAFKA_CA_FILE=str(ca),
    )
    assert client_security(settings) == {
        "security_protocol": "SASL_SSL",
        "ssl_check_hostname": True,
        "ssl_cafile": str(ca),
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "svc",
        "sasl_plain_password": SECRET,
    }
    assert describe_security(settings) == "SASL_SSL (SCRAM-SHA-512) as 'svc'"
    assert SECRET not in repr(settings)


def test_the_password_can_come_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret_file = tmp_path / "kafka-password"
    secret_file.write_text(SECRET + "\n")
    settings = load(
        monkeypatch,
        KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
        KAFKA_SASL_MECHANISM="plain",
        KAFKA_USERNAME="svc",
        KAFKA_PASSWORD_FILE=str(secret_file),
    )
    kwargs = client_security(settings)
    assert kwargs["sasl_plain_password"] == SECRET
    assert kwargs["sasl_mechanism"] == "PLAIN"
    assert "ssl_cafile" not in kwargs


def test_mutual_tls_passes_the_client_certificate_and_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("cert.pem", "key.pem"):
        (tmp_path / name).write_text("pem")
    settings = load(
        monkeypatch,
        KAFKA_SECURITY_PROTOCOL="SSL",
        KAFKA_CERT_FILE=str(tmp_path / "cert.pem"),
        KAFKA_KEY_FILE=str(tmp_path / "key.pem"),
        KAFKA_KEY_PASSWORD=SECRET,
        KAFKA_CHECK_HOSTNAME="false",
    )
    kwargs = client_security(settings)
    assert kwargs["ssl_certfile"] == str(tmp_path / "cert.pem")
    assert kwargs["ssl_password"] == SECRET
    assert kwargs["ssl_check_hostname"] is False
    assert "sasl_mechanism" not in kwargs


def test_sasl_without_a_user_or_password_names_what_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert problems(monkeypatch, KAFKA_SECURITY_PROTOCOL="SASL_SSL") == [
        "RAREMATCH_KAFKA_USERNAME must be set when RAREMATCH_KAFKA_SECURITY_PROTOCOL=SASL_SSL "
        "(SASL needs a user)"
    ]
    assert problems(monkeypatch, KAFKA_USERNAME="svc") == [
        "set one of RAREMATCH_KAFKA_PASSWORD or RAREMATCH_KAFKA_PASSWORD_FILE when "
        "RAREMATCH_KAFKA_SECURITY_PROTOCOL=SASL_SSL (neither is set)"
    ]


def test_both_password_sources_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text(SECRET)
    assert problems(
        monkeypatch,
        KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        KAFKA_USERNAME="svc",
        KAFKA_PASSWORD=SECRET,
        KAFKA_PASSWORD_FILE=str(secret_file),
    ) == [
        "set one of RAREMATCH_KAFKA_PASSWORD or RAREMATCH_KAFKA_PASSWORD_FILE when "
        "RAREMATCH_KAFKA_SECURITY_PROTOCOL=SASL_SSL (both are set)"
    ]


def test_an_empty_or_missing_password_file_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    base = {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_USERNAME": "svc"}
    assert problems(monkeypatch, **base, KAFKA_PASSWORD_FILE=str(empty)) == [
        f"RAREMATCH_KAFKA_PASSWORD_FILE='{empty}' is empty"
    ]
    missing = tmp_path / "nope"
    assert problems(monkeypatch, KAFKA_PASSWORD_FILE=str(missing)) == [
        f"RAREMATCH_KAFKA_PASSWORD_FILE='{missing}': is not a file (no such file, or a "
        "directory) (a path to a readable file)"
    ]


def test_credentials_or_tls_files_without_a_protocol_that_uses_them_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert problems(monkeypatch, KAFKA_PASSWORD=SECRET) == [
        "RAREMATCH_KAFKA_PASSWORD is set but RAREMATCH_KAFKA_SECURITY_PROTOCOL=PLAINTEXT does "
        "not use SASL (set RAREMATCH_KAFKA_SECURITY_PROTOCOL=SASL_SSL, or unset "
        "RAREMATCH_KAFKA_PASSWORD)"
    ]
    monkeypatch.delenv("RAREMATCH_KAFKA_PASSWORD")
    ca = tmp_path / "ca.pem"
    ca.write_text("pem")
    assert problems(
        monkeypatch,
        KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
        KAFKA_USERNAME="svc",
        KAFKA_PASSWORD=SECRET,
        KAFKA_CA_FILE=str(ca),
    ) == [
        "RAREMATCH_KAFKA_CA_FILE is set but RAREMATCH_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT "
        "does not use TLS (set RAREMATCH_KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL, or unset "
        "RAREMATCH_KAFKA_CA_FILE)"
    ]


def test_a_certificate_needs_its_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("pem")
    assert problems(monkeypatch, KAFKA_SECURITY_PROTOCOL="SSL", KAFKA_CERT_FILE=str(cert)) == [
        "set both RAREMATCH_KAFKA_CERT_FILE and RAREMATCH_KAFKA_KEY_FILE, or neither"
    ]


def test_an_unknown_protocol_or_mechanism_says_what_is_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert problems(monkeypatch, KAFKA_SECURITY_PROTOCOL="TLS") == [
        "RAREMATCH_KAFKA_SECURITY_PROTOCOL='TLS': is not one of the allowed values "
        "(PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, in any case)"
    ]
    monkeypatch.delenv("RAREMATCH_KAFKA_SECURITY_PROTOCOL")
    assert problems(monkeypatch, KAFKA_SASL_MECHANISM="GSSAPI") == [
        "RAREMATCH_KAFKA_SASL_MECHANISM='GSSAPI': is not one of the allowed values "
        "(SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN, in any case)"
    ]


def test_kafka_pythons_configuration_log_never_shows_the_password(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load(
        monkeypatch,
        KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        KAFKA_USERNAME="svc",
        KAFKA_PASSWORD=SECRET,
    )
    configs = client_security(settings)
    with caplog.at_level(logging.DEBUG, logger="kafka"):
        # What KafkaAdminClient.__init__ logs, word for word.
        logging.getLogger("kafka.admin.client").debug(
            "Starting KafkaAdminClient with configuration: %s", configs
        )
    [record] = caplog.records
    assert SECRET not in caplog.text
    assert "'sasl_plain_password': '[hidden]'" in record.getMessage()
    assert configs["sasl_plain_password"] == SECRET, "only the log is redacted"


@pytest.mark.parametrize(
    ("logged", "protocol", "says"),
    [
        (
            ["Connection lost: [Error 58] SaslAuthenticationFailedError: invalid credentials"],
            "SASL_SSL",
            "authentication failed (wrong user or password)",
        ),
        (
            ["Handshake failed: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"],
            "SASL_SSL",
            "the broker's certificate is not trusted",
        ),
        (
            ["Handshake failed: [SSL: WRONG_VERSION_NUMBER] wrong version number"],
            "SSL",
            "the TLS handshake failed",
        ),
        (["Connection failed: KafkaConnectionError: 111 ECONNREFUSED"], "PLAINTEXT", "nothing"),
        (
            ["Connection lost: InvalidReceiveError: Invalid frame length: 352518912"],
            "PLAINTEXT",
            "the broker closed every connection (it may require TLS or SASL)",
        ),
        (
            ["Connection lost: KafkaConnectionError: socket disconnected"],
            "SASL_SSL",
            "most likely it refused the credentials",
        ),
    ],
)
def test_a_failed_connection_says_why_from_what_kafka_python_logged(
    logged: list[str], protocol: str, says: str
) -> None:
    from rarematch.common.kafka.security import _cause

    cause = _cause(logged, protocol)
    assert cause is not None
    assert says in cause, cause
    assert _cause(["something else entirely"], protocol) is None


def test_the_connection_error_is_one_line_naming_broker_and_user_not_password() -> None:
    from kafka.errors import KafkaTimeoutError

    from rarematch.common.kafka.security import KafkaUnreachable, explained_connection_errors

    security = {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "svc",
        "sasl_plain_password": SECRET,
    }

    def bootstrap_refused() -> None:
        with explained_connection_errors("b:9093", security):
            logging.getLogger("kafka.net.connection").error(
                "Connection lost: [Error 58] SaslAuthenticationFailedError: invalid credentials"
            )
            raise KafkaTimeoutError("Unable to bootstrap from b:9093")

    with pytest.raises(KafkaUnreachable) as raised:
        bootstrap_refused()
    assert str(raised.value) == (
        "cannot connect to Kafka at b:9093 with SASL_SSL (SCRAM-SHA-512) as 'svc': "
        "authentication failed (wrong user or password); check RAREMATCH_KAFKA_USERNAME and "
        "RAREMATCH_KAFKA_PASSWORD or RAREMATCH_KAFKA_PASSWORD_FILE"
    )
    assert SECRET not in str(raised.value)
