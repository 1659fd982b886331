"""Kafka security settings as kafka-python client arguments: one function for every client."""

from __future__ import annotations

from typing import Any

from rarematch.common.settings import KafkaSecuritySettings

__all__ = ["client_security", "describe_security"]


def client_security(settings: KafkaSecuritySettings) -> dict[str, Any]:
    """Keyword arguments for KafkaConsumer, KafkaProducer and KafkaAdminClient alike.

    The result holds the password: pass it to the constructor, never log it (log
    `describe_security` instead).
    """
    protocol = settings.kafka_security_protocol
    kwargs: dict[str, Any] = {"security_protocol": protocol}
    if protocol in {"SSL", "SASL_SSL"}:
        kwargs["ssl_check_hostname"] = settings.kafka_check_hostname
        if settings.kafka_ca_file is not None:
            kwargs["ssl_cafile"] = str(settings.kafka_ca_file)
        if settings.kafka_cert_file is not None and settings.kafka_key_file is not None:
            kwargs["ssl_certfile"] = str(settings.kafka_cert_file)
            kwargs["ssl_keyfile"] = str(settings.kafka_key_file)
            if settings.kafka_key_password is not None:
                kwargs["ssl_password"] = settings.kafka_key_password.get_secret_value()
    if protocol in {"SASL_PLAINTEXT", "SASL_SSL"}:
        kwargs["sasl_mechanism"] = settings.kafka_sasl_mechanism
        kwargs["sasl_plain_username"] = settings.kafka_username
        kwargs["sasl_plain_password"] = settings.kafka_sasl_password()
    return kwargs


def describe_security(settings: KafkaSecuritySettings) -> str:
    """How the clients connect, for logs and errors: protocol, mechanism and user, no secret."""
    protocol = settings.kafka_security_protocol
    if protocol in {"SASL_PLAINTEXT", "SASL_SSL"}:
        return f"{protocol} ({settings.kafka_sasl_mechanism}) as {settings.kafka_username!r}"
    return protocol
