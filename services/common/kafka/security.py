"""Kafka security settings as kafka-python client arguments: one function for every client,
and one plain line saying why a client could not connect (instead of a 30 s silent retry)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from kafka.errors import KafkaConnectionError, KafkaTimeoutError

from rarematch.common.settings import KafkaSecuritySettings, KafkaSettings, env_name

__all__ = [
    "CONNECT_TIMEOUT_MS",
    "KafkaUnreachable",
    "client_security",
    "describe_security",
    "explained_connection_errors",
]

CONNECT_TIMEOUT_MS = 10_000
"""How long a client tries to reach the brokers at start before it says why it cannot."""

_SASL = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
_TLS = frozenset({"SSL", "SASL_SSL"})


_SECRET_ARGUMENTS = frozenset({"sasl_plain_password", "ssl_password"})
_CONFIG_LOGGERS = ("kafka.admin.client", "kafka.producer.kafka", "kafka.consumer.group")
"""kafka-python loggers that may log a client's whole configuration (the admin client does,
at DEBUG), password included."""


def _var(field: str) -> str:
    return env_name(KafkaSettings, field)


class KafkaUnreachable(RuntimeError):
    """No broker could be reached or authenticated with; the text is one line saying why."""


def client_security(settings: KafkaSecuritySettings) -> dict[str, Any]:
    """Keyword arguments for KafkaConsumer, KafkaProducer and KafkaAdminClient alike.

    The result holds the password: pass it to the constructor, never log it (log
    `describe_security` instead). kafka-python's own configuration logs are redacted.
    """
    _redact_client_logs()
    protocol = settings.kafka_security_protocol
    kwargs: dict[str, Any] = {"security_protocol": protocol}
    if protocol in _TLS:
        kwargs["ssl_check_hostname"] = settings.kafka_check_hostname
        if settings.kafka_ca_file is not None:
            kwargs["ssl_cafile"] = str(settings.kafka_ca_file)
        if settings.kafka_cert_file is not None and settings.kafka_key_file is not None:
            kwargs["ssl_certfile"] = str(settings.kafka_cert_file)
            kwargs["ssl_keyfile"] = str(settings.kafka_key_file)
            if settings.kafka_key_password is not None:
                kwargs["ssl_password"] = settings.kafka_key_password.get_secret_value()
    if protocol in _SASL:
        kwargs["sasl_mechanism"] = settings.kafka_sasl_mechanism
        kwargs["sasl_plain_username"] = settings.kafka_username
        kwargs["sasl_plain_password"] = settings.kafka_sasl_password()
    return kwargs


def describe_security(security: KafkaSecuritySettings | Mapping[str, Any]) -> str:
    """How the clients connect, for logs and errors: protocol, mechanism and user, no secret."""
    kwargs = client_security(security) if isinstance(security, KafkaSecuritySettings) else security
    protocol = str(kwargs.get("security_protocol", "PLAINTEXT"))
    if protocol in _SASL:
        user = kwargs.get("sasl_plain_username")
        return f"{protocol} ({kwargs.get('sasl_mechanism')}) as {user!r}"
    return protocol


class _RedactSecrets(logging.Filter):
    """Replaces passwords in the configuration dicts kafka-python logs with `[hidden]`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(arg) for arg in record.args)
        elif isinstance(record.args, Mapping):  # `log("%s", configs)`: the dict is the args
            record.args = _redacted_mapping(record.args)
        return True


def _redacted(value: object) -> object:
    return _redacted_mapping(value) if isinstance(value, Mapping) else value


def _redacted_mapping(value: Mapping[str, object]) -> Mapping[str, object]:
    if not _SECRET_ARGUMENTS & set(value):
        return value
    return {
        key: "[hidden]" if key in _SECRET_ARGUMENTS and item is not None else item
        for key, item in value.items()
    }


_REDACT = _RedactSecrets()


def _redact_client_logs() -> None:
    for name in _CONFIG_LOGGERS:
        logger = logging.getLogger(name)
        if _REDACT not in logger.filters:
            logger.addFilter(_REDACT)


class _Recorder(logging.Handler):
    """Keeps the messages kafka-python logs while it tries to connect: they hold the cause."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def explained_connection_errors(bootstrap: str, security: Mapping[str, Any]) -> Iterator[None]:
    """Turn kafka-python's "Unable to bootstrap" into one line: where, how, why, what to do."""
    logger = logging.getLogger("kafka")
    recorder = _Recorder()
    level = logger.level
    logger.addHandler(recorder)
    if logger.getEffectiveLevel() > logging.WARNING:
        logger.setLevel(logging.WARNING)
    try:
        yield
    except (KafkaTimeoutError, KafkaConnectionError) as error:
        how = describe_security(security)
        why = _cause(recorder.messages, str(security.get("security_protocol", "PLAINTEXT")))
        raise KafkaUnreachable(
            f"cannot connect to Kafka at {bootstrap} with {how}: {why or error}"
        ) from None
    finally:
        logger.removeHandler(recorder)
        logger.setLevel(level)


def _cause(messages: list[str], protocol: str) -> str | None:
    """What the connection attempts' log lines say went wrong, and what to change."""
    text = "\n".join(messages)
    if "SaslAuthenticationFailedError" in text or "invalid credentials" in text:
        return (
            "authentication failed (wrong user or password); check "
            f"{_var('kafka_username')} and {_var('kafka_password')} or "
            f"{_var('kafka_password_file')}"
        )
    if "UnsupportedSaslMechanism" in text:
        return (
            f"the broker does not offer this SASL mechanism; set {_var('kafka_sasl_mechanism')} "
            "to one it enables"
        )
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return (
            "the broker's certificate is not trusted or does not name this host; set "
            f"{_var('kafka_ca_file')} to the CA that signed it"
        )
    if "Handshake failed" in text or "WRONG_VERSION_NUMBER" in text:
        return (
            f"the TLS handshake failed; check that the broker's listener uses TLS and "
            f"{_var('kafka_security_protocol')}"
        )
    if "Connection refused" in text or "ECONNREFUSED" in text or "Errno 111" in text:
        return f"nothing accepts connections there; check {_var('kafka_bootstrap')}"
    if "disconnected" in text or "Invalid frame length" in text:
        if protocol in _SASL:
            # The broker answers wrong credentials and then closes; kafka-python often sees
            # the close before the answer, so a refused login mostly looks like this.
            return (
                "the broker closed every connection after it was opened: most likely it "
                f"refused the credentials (check {_var('kafka_username')} and "
                f"{_var('kafka_password')} or {_var('kafka_password_file')}), else its "
                f"listener does not use SASL (check {_var('kafka_security_protocol')})"
            )
        return (
            "the broker closed every connection (it may require TLS or SASL); check "
            f"{_var('kafka_security_protocol')} against the broker's listener"
        )
    return None
