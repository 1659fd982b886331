"""Frozen settings read from `RAREMATCH_*` environment variables, one model per program part.

`load_settings(Model)` turns a pydantic ValidationError into a SettingsError of one line per bad
variable (name, value unless secret, the problem, what is allowed); `unknown_variables` names
`RAREMATCH_*` variables that no model reads, with the closest known name.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field, ValidationError, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from rarematch.common.setting_types import (
    Bootstrap,
    CaseUrlTemplate,
    Count,
    DatabaseUrl,
    EmailAddress,
    ExistingFile,
    Flag,
    Host,
    KafkaName,
    LocalBrokerPort,
    LogLevel,
    MetricsPort,
    PathToDirectory,
    PathToFile,
    Port,
    SaslMechanism,
    Seconds,
    Secret,
    SecurityProtocol,
    Text,
    allowed_text,
    is_secret,
)

__all__ = [
    "ENV_PREFIX",
    "SETTINGS_MODELS",
    "DemoSettings",
    "EligibilitySettings",
    "KafkaSecuritySettings",
    "KafkaSettings",
    "LocalKafkaSettings",
    "NotifierSettings",
    "SettingsError",
    "env_name",
    "env_names",
    "known_env_names",
    "load_settings",
    "unknown_variables",
]

ENV_PREFIX = "RAREMATCH_"
_MAX_VALUE_CHARS = 80


class _Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")


_TLS = frozenset({"SSL", "SASL_SSL"})
_SASL = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})


class KafkaSecuritySettings(_Settings):
    """How every Kafka client (consumer, producer, admin, `rarematch publish`) authenticates.

    Turned into kafka-python arguments by `rarematch.common.kafka.security.client_security`.
    """

    kafka_security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT", description="SASL_SSL for SCRAM or PLAIN over TLS"
    )
    kafka_sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    kafka_username: Text | None = Field(default=None, description="SASL user")
    kafka_password: Secret | None = Field(default=None, description="SASL password")
    kafka_password_file: ExistingFile | None = Field(
        default=None, description="File holding the SASL password (instead of the password)"
    )
    kafka_ca_file: ExistingFile | None = Field(
        default=None, description="PEM CA certificates to trust; else the system's"
    )
    kafka_cert_file: ExistingFile | None = Field(
        default=None, description="PEM client certificate (mutual TLS)"
    )
    kafka_key_file: ExistingFile | None = Field(
        default=None, description="PEM private key of the client certificate"
    )
    kafka_key_password: Secret | None = Field(
        default=None, description="Password of an encrypted client key"
    )
    kafka_check_hostname: Flag = Field(
        default=True, description="Check the broker's certificate names its host"
    )

    @model_validator(mode="after")
    def _consistent_security(self) -> KafkaSecuritySettings:
        problem = _security_problem(self)
        if problem:
            raise ValueError(problem)
        return self

    def kafka_sasl_password(self) -> str | None:
        """The SASL password, from the variable or (stripped of its line end) the file."""
        if self.kafka_password is not None:
            return self.kafka_password.get_secret_value()
        if self.kafka_password_file is not None:
            return _password_in(self.kafka_password_file)
        return None


def _password_in(path: Path) -> str:
    return path.read_text(encoding="utf-8").rstrip("\r\n")


def _security_problem(settings: KafkaSecuritySettings) -> str | None:
    """The first inconsistency between the security settings, in one line naming them."""

    def name(field: str) -> str:
        return env_name(type(settings), field)

    protocol = settings.kafka_security_protocol
    chosen = f"{name('kafka_security_protocol')}={protocol}"
    password_fields = ("kafka_password", "kafka_password_file")
    if protocol in _SASL:
        if settings.kafka_username is None:
            return f"{name('kafka_username')} must be set when {chosen} (SASL needs a user)"
        given = [field for field in password_fields if getattr(settings, field) is not None]
        if len(given) != 1:
            how = "both are set" if given else "neither is set"
            return (
                f"set one of {name('kafka_password')} or {name('kafka_password_file')} "
                f"when {chosen} ({how})"
            )
        if settings.kafka_password_file is not None and not _password_in(
            settings.kafka_password_file
        ):
            return f"{name('kafka_password_file')}={str(settings.kafka_password_file)!r} is empty"
    else:
        for field in ("kafka_username", *password_fields):
            if getattr(settings, field) is not None:
                return (
                    f"{name(field)} is set but {chosen} does not use SASL "
                    f"(set {name('kafka_security_protocol')}=SASL_SSL, or unset {name(field)})"
                )
    if protocol not in _TLS:
        tls_fields = ("kafka_ca_file", "kafka_cert_file", "kafka_key_file", "kafka_key_password")
        for field in tls_fields:
            if getattr(settings, field) is not None:
                return (
                    f"{name(field)} is set but {chosen} does not use TLS "
                    f"(set {name('kafka_security_protocol')}=SSL or SASL_SSL, "
                    f"or unset {name(field)})"
                )
    if (settings.kafka_cert_file is None) != (settings.kafka_key_file is None):
        return f"set both {name('kafka_cert_file')} and {name('kafka_key_file')}, or neither"
    if settings.kafka_key_password is not None and settings.kafka_key_file is None:
        return f"{name('kafka_key_password')} is set but {name('kafka_key_file')} is not"
    return None


class KafkaSettings(KafkaSecuritySettings):
    """Broker address and topic names shared by both services."""

    kafka_bootstrap: Bootstrap = Field(
        default="127.0.0.1:9092", description="Kafka bootstrap servers"
    )
    cases_topic: KafkaName = "rarematch.cases"
    matches_topic: KafkaName = "rarematch.matches"
    case_state_topic: KafkaName = Field(
        default="rarematch.case-state",
        description="Compacted: the latest valid case per case id, a tombstone on withdrawal",
    )
    decision_state_topic: KafkaName = Field(
        default="rarematch.decision-state",
        description="Compacted changelog: the open decisions last published per case id",
    )
    case_summaries_topic: KafkaName = Field(
        default="rarematch.case-summaries",
        description="Compacted: each case's decisions by tier and next tests (the worklist)",
    )
    cases_dead_letter_topic: KafkaName = "rarematch.cases.DLT"
    matches_dead_letter_topic: KafkaName = "rarematch.matches.DLT"
    topic_partitions: Count = Field(
        default=12, description="For topics this service creates (more than instances)"
    )
    topic_replication: Count = 1
    log_level: LogLevel = "INFO"
    metrics_host: Host = Field(
        default="127.0.0.1",
        description="Address of /metrics, /healthz and /readyz; 0.0.0.0 opens them to the network",
    )


class EligibilitySettings(KafkaSettings):
    eligibility_group: KafkaName = "rarematch-eligibility"
    rules_dir: PathToDirectory = Path("rules")
    eligibility_metrics_port: MetricsPort = Field(
        default=9101, description="0 disables the endpoint"
    )
    eligibility_instance_id: KafkaName | None = Field(
        default=None,
        description=(
            "This instance's stable id (Kafka static membership: a restart takes its partitions "
            "back at once); default from the host name, group and rules folder. Give each "
            "instance on one host its own"
        ),
    )


class NotifierSettings(KafkaSettings):
    notifier_group: KafkaName = "rarematch-notifier"
    rules_dir: PathToDirectory = Path("rules")
    smtp_host: Host = "127.0.0.1"
    smtp_port: Port = 1025
    smtp_starttls: Flag = False
    smtp_username: Text | None = None
    smtp_password: Secret | None = None
    smtp_from: EmailAddress = "rarematch@localhost"
    smtp_timeout_s: Seconds = 10.0
    notifier_metrics_port: MetricsPort = Field(default=9102, description="0 disables the endpoint")
    notifications_dead_letter_topic: KafkaName = "rarematch.notifications.DLT"
    notifier_database_url: DatabaseUrl | None = Field(
        default=None, description="postgresql://… for several notifier instances; else SQLite"
    )
    notifier_store_path: PathToFile = Field(
        default=Path("var/notifier.sqlite3"), description="SQLite dedup and digest store"
    )
    case_url_template: CaseUrlTemplate | None = Field(
        default=None,
        description="Link in every alert, e.g. https://nav.example.org/cases/{case_id}",
    )
    delivery_workers: Count = Field(default=8, description="Deliveries in flight at once")
    per_channel_limit: Count = Field(default=4, description="In flight per channel")
    retry_attempts: Count = 4
    retry_base_delay_s: Seconds = 0.5
    retry_max_delay_s: Seconds = 8.0
    notifier_instance_id: KafkaName | None = Field(
        default=None,
        description=(
            "This instance's stable id (its dedup claims, Kafka static membership); default "
            "from the host name and store path. Give each instance on one host its own"
        ),
    )
    heartbeat_interval_s: Seconds = Field(
        default=1.0, description="How often an instance writes its heartbeat to the store"
    )
    claim_stale_after_s: Seconds = Field(
        default=5.0,
        description="An instance silent this long is gone: its in-flight claims are taken over",
    )
    claim_wait_s: Seconds = Field(
        default=120.0,
        description="Longest wait for a delivery another live instance has in flight",
    )

    @model_validator(mode="after")
    def _base_delay_within_max(self) -> NotifierSettings:
        if self.retry_base_delay_s > self.retry_max_delay_s:
            base = env_name(type(self), "retry_base_delay_s")
            most = env_name(type(self), "retry_max_delay_s")
            raise ValueError(
                f"{base}={self.retry_base_delay_s:g} is more than {most}="
                f"{self.retry_max_delay_s:g} (the base delay must not exceed the maximum)"
            )
        return self

    @model_validator(mode="after")
    def _heartbeats_well_within_staleness(self) -> NotifierSettings:
        if self.claim_stale_after_s < 2 * self.heartbeat_interval_s:
            stale = env_name(type(self), "claim_stale_after_s")
            beat = env_name(type(self), "heartbeat_interval_s")
            raise ValueError(
                f"{stale}={self.claim_stale_after_s:g} is less than twice {beat}="
                f"{self.heartbeat_interval_s:g} (one late heartbeat would let another "
                "instance take over live claims)"
            )
        return self


class LocalKafkaSettings(_Settings):
    """The local broker of `rarematch kafka` (and the jar cache the demo's broker shares)."""

    kafka_port: LocalBrokerPort = Field(default=9092, description="Controller on port + 1")
    kafka_state_dir: PathToDirectory | None = Field(
        default=None, description="Default <cache>/broker-<port>"
    )
    cache_dir: PathToDirectory = Field(
        default_factory=lambda: Path.home() / ".cache" / "rarematch",
        description="Where the Kafka jars are cached",
    )


class DemoSettings(LocalKafkaSettings):
    """`rarematch demo`: its own throw-away broker, sharing the jar cache of `rarematch kafka`."""

    demo_kafka_port: LocalBrokerPort = Field(default=19092, description="The demo's own broker")


SETTINGS_MODELS: tuple[type[BaseSettings], ...] = (
    EligibilitySettings,
    NotifierSettings,
    LocalKafkaSettings,
    DemoSettings,
)
"""Every settings model of the program; together they define the known `RAREMATCH_*` names."""

S = TypeVar("S", bound=BaseSettings)


class SettingsError(ValueError):
    """Settings do not validate; the text is one line per bad variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def env_name(model: type[BaseSettings], field: str) -> str:
    return f"{model.model_config.get('env_prefix', '')}{field}".upper()


def env_names(model: type[BaseSettings]) -> frozenset[str]:
    return frozenset(env_name(model, field) for field in model.model_fields)


def known_env_names() -> frozenset[str]:
    return frozenset().union(*(env_names(model) for model in SETTINGS_MODELS))


def load_settings(model: type[S], environ: Mapping[str, str] | None = None) -> S:
    """`model()` from the environment; a SettingsError of one line per bad variable if invalid.

    `environ` is only used to quote the value as written (pydantic-settings reads os.environ).
    """
    try:
        return model()
    except ValidationError as failure:
        raise SettingsError(
            _problems(model, failure, os.environ if environ is None else environ)
        ) from None


def unknown_variables(
    environ: Mapping[str, str], known: Iterable[str], *, misspelt_only: bool = False
) -> list[str]:
    """A warning per `RAREMATCH_*` variable that nothing reads; names only, never values.

    `misspelt_only`: just those close to a known name (when not every known name is at hand).
    """
    # Compared without the shared prefix, which would make every name look close.
    suffixes = sorted(name.upper().removeprefix(ENV_PREFIX) for name in known)
    warnings = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper.removeprefix(ENV_PREFIX) in suffixes:
            continue
        close = difflib.get_close_matches(upper.removeprefix(ENV_PREFIX), suffixes, n=1)
        if close or not misspelt_only:
            hint = f" (did you mean {ENV_PREFIX}{close[0]}?)" if close else ""
            warnings.append(f"warning: {name} is not a rarematch setting{hint}")
    return warnings


def _problems(
    model: type[BaseSettings], failure: ValidationError, environ: Mapping[str, str]
) -> list[str]:
    by_field: dict[str, list[ErrorDetails]] = {}
    for error in failure.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        by_field.setdefault(field, []).append(error)
    problems = []
    for field, errors in by_field.items():
        messages = "; ".join(dict.fromkeys(_problem(error) for error in errors))
        info = model.model_fields.get(field)
        if info is None:  # a check across fields: its message names the variables
            problems.append(messages)
            continue
        name = env_name(model, field)
        allowed = allowed_text(info.annotation, info.metadata)
        suffix = f" ({allowed})" if allowed else ""
        if is_secret(info.annotation):
            problems.append(f"{name} (value not shown): {messages}{suffix}")
        else:
            value = _quoted(_raw_value(environ, name, errors[0].get("input")))
            problems.append(f"{name}={value}: {messages}{suffix}")
    return problems


def _problem(error: ErrorDetails) -> str:
    ctx: dict[str, Any] = {
        key: f"{value:g}" if isinstance(value, float) else value
        for key, value in (error.get("ctx") or {}).items()
    }
    kind = error["type"]
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    phrases = {
        "greater_than_equal": "must be at least {ge}",
        "greater_than": "must be more than {gt}",
        "less_than_equal": "must be at most {le}",
        "less_than": "must be less than {lt}",
        "int_parsing": "is not a whole number",
        "int_from_float": "is not a whole number",
        "float_parsing": "is not a number",
        "finite_number": "must be a finite number",
        "bool_parsing": "is not true or false",
        "literal_error": "is not one of the allowed values",
        "string_too_short": "must not be empty",
        "string_too_long": "is longer than {max_length} characters",
        "string_pattern_mismatch": "is not of the allowed form",
        "missing": "must be set",
    }
    if kind in phrases:
        return phrases[kind].format(**ctx)
    message = error["msg"]
    return message[:1].lower() + message[1:]


def _raw_value(environ: Mapping[str, str], name: str, fallback: object) -> object:
    """The value as written in the environment (pydantic-settings matches names in any case)."""
    for key, value in environ.items():
        if key.upper() == name:
            return value
    return fallback


def _quoted(value: object) -> str:
    text = repr(value) if isinstance(value, str) else repr(str(value))
    if len(text) > _MAX_VALUE_CHARS:
        text = f"{text[: _MAX_VALUE_CHARS - 4]}…{text[0]}"
    return text
